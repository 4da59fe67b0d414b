"""TLS 1.3 contexts for the sync link (特定通信 ① and ③). The one place ssl options are set.

HQ: TLS 1.3 only, a client certificate from the election CA is required, the revocation list is
checked for the leaf, no compression, no session tickets (``num_tickets = 0``: a ticket could let
one terminal's session be resumed by another). Terminal: TLS 1.3 only, trusts the pinned election
CA and nothing from the system store, checks HQ's stable name ``hq.<election>.meibo``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from provisioning.pki import PkiPaths


def _harden(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET


def server_context(pki_dir: Path) -> ssl.SSLContext:
    p = PkiPaths(pki_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(ctx)
    ctx.num_tickets = 0
    ctx.load_cert_chain(p.hq_cert, p.hq_key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(p.ca_cert))
    ctx.load_verify_locations(cafile=str(p.crl))
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def client_context(tls_dir: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no load_default_certs(): pinned CA only
    _harden(ctx)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(tls_dir / "ca.pem"))
    ctx.load_cert_chain(tls_dir / "client.pem", tls_dir / "client.key")
    return ctx
