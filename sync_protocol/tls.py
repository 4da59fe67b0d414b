"""TLS 1.3 contexts for the sync link (特定通信 ① and ③). The one place ssl options are set.

HQ: TLS 1.3 only, a client certificate from the election CA is required, the revocation list is
checked for the leaf, no compression, no session tickets (``num_tickets = 0``: a ticket could let
one terminal's session be resumed by another). Terminal: TLS 1.3 only, trusts the pinned election
CA and nothing from the system store, checks HQ's stable name ``hq.<election>.meibo``.

HQ's revocation list changes while HQ serves (renewal, revocation). ``ServerTls`` keeps one
listening context for the socket and a *current* context built from the files on disk; every new
handshake is moved to the current one in the SNI callback, which OpenSSL runs while it reads the
ClientHello, before it asks for and verifies the client certificate (Python allows setting
``SSLObject.context`` there; the callback also runs when the client sends no SNI). Connections
already established keep the context they were verified with.
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


class ServerTls:
    """HQ's TLS: ``listener`` for the listening socket; ``reload()`` after the CRL (or HQ's
    certificate) changed on disk makes the next handshakes use the new files, no restart."""

    def __init__(self, pki_dir: Path) -> None:
        self.pki_dir = pki_dir
        self.current = server_context(pki_dir)
        self.listener = server_context(pki_dir)
        self.listener.sni_callback = self._use_current
        self.reloads = 0

    def reload(self) -> None:
        """Build a context from the files now on disk; raises (and keeps the old one) if they are bad."""
        ctx = server_context(self.pki_dir)
        self.current = ctx  # one reference swap: a handshake sees the old or the new, never half
        self.reloads += 1

    def _use_current(self, conn: ssl.SSLSocket | ssl.SSLObject, server_name: str | None,
                     listening: ssl.SSLContext) -> None:
        conn.context = self.current


def client_context(tls_dir: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no load_default_certs(): pinned CA only
    _harden(ctx)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(tls_dir / "ca.pem"))
    ctx.load_cert_chain(tls_dir / "client.pem", tls_dir / "client.key")
    return ctx
