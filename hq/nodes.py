"""A second HQ node (本部の二号機): ``add_node`` makes a real, provisioned HQ directory for another
machine serving the same election on the same PostgreSQL store (issue 18).

What the new directory gets, and why:

- ``election.toml``: the same election (stations, contests, ``[hq] addresses``, ``[hq] store``).
- ``keys/roll_signing.key`` and ``.pub``: HQ signs roll packages and its own journal (不在者投票)
  with it, and terminals pinned this ONE key at enrollment, so both nodes sign with it.
- ``pki/ca.pem`` and ``pki/ca.key``: a node verifies every terminal certificate against the
  election CA, issues certificates at enrollment (card or ``hq enroll-local``) and re-issues the
  CRL while it serves; all three need the CA. An office that keeps the CA key offline copies it
  on by hand when needed, as on the first node (``ca_key_missing`` otherwise).
- the state that changes during the election, as it is now: ``terminals.json`` (the registry),
  ``cards.json``, ``pki/issued.json``, ``pki/crl.pem`` and ``pki/crl-renewal.json``, ``rolls/``,
  ``roll.db`` (through SQLite's backup API: a file copy of a live database can be torn). This is
  only the starting point: from then on both nodes keep these files the same through the
  PostgreSQL store (hq/shared_files.py, the ``hq_files`` table), so a revocation, an enrollment or
  a published roll made on one node reaches the other (docs/hq-nodes.md).
- a TLS key and certificate OF ITS OWN (``pki/hq.key``, ``pki/hq.pem``), issued here by the
  election CA for the election's HQ name (terminals check ``hq.<election>.meibo``, 特定通信 ②)
  and the node's host.

Never copied: the other node's ``hq.key`` (a stolen or retired machine must not be able to pose
as the node that stays), the SQLite store ``hq.db`` (the nodes share the PostgreSQL store; a
copied SQLite file would be a second, diverging record), sockets, locks and anything else.
``node.json`` records the node's name, where it came from and its certificate's fingerprint.
Written in a staging directory and renamed when whole. Never imports the ledger, the server or
the CLI.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir, write_atomic, write_private
from appliance.staging import Staging, fresh_dir
from ground.clock import Clock
from ground.errors import UsageError
from provisioning import pki
from provisioning.pki import PkiPaths

NODE_FILE = "node.json"
NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
# (relative path, private): the files a node needs, as they are on the source node
COPIED = (("election.toml", False), ("keys/roll_signing.key", True), ("keys/roll_signing.pub", False),
          ("pki/ca.pem", False), ("pki/ca.key", True), ("pki/issued.json", False), ("pki/crl.pem", False),
          ("pki/crl-renewal.json", False), ("terminals.json", False), ("cards.json", False))
REQUIRED = ("election.toml", "keys/roll_signing.key", "keys/roll_signing.pub", "pki/ca.pem", "pki/ca.key")


class NodeInvalid(UsageError):
    """The new node cannot be made from this directory or with this name: fix the input."""

    code = "node_invalid"


def add_node(src: HqDir, dst: Path, node_name: str, clock: Clock, *, host: str | None = None,
             tls_clock: Clock = pki.MACHINE_CLOCK) -> HqDir:
    """``meibo hq add-node``: a new HQ directory ``dst`` for node ``node_name`` (see the module
    docstring for what it holds). ``host`` (host:port) is the node's own address, added to its
    certificate beside the election's HQ name. Nothing is left at ``dst`` if it fails."""
    src.require()
    if not NODE_NAME.match(node_name):
        raise NodeInvalid(f"ノード名は英数字と - _ . で 32 文字まで: {node_name!r}", code="node_name_invalid")
    for rel in REQUIRED:
        if not (src.root / rel).exists():
            raise NodeInvalid(f"元の本部ディレクトリに {rel} がありません（選挙 CA の鍵をオフライン保管中なら戻してください）:"
                              f" {src.root / rel}", code="node_source_incomplete")
    if dst.resolve() == src.root.resolve() or dst.resolve().is_relative_to(src.root.resolve()):
        raise NodeInvalid(f"新しいノードは元の本部ディレクトリの外に作ってください: {dst}", code="node_inside_source")
    config = src.config()
    fresh_dir(dst)
    stage = Staging(dst)
    try:
        new = HqDir(stage.path)
        for rel, private in COPIED:
            s = src.root / rel
            if s.exists():
                (write_private if private else write_atomic)(new.root / rel, s.read_bytes())
        if src.rolls.is_dir():
            shutil.copytree(src.rolls, new.rolls)
        if src.roll_db.exists():
            _copy_sqlite(src.roll_db, new.roll_db)
        fingerprint = pki.write_hq_cert(new.pki, config, clock, hosts=(host,) if host else (),
                                        tls_clock=tls_clock)
        source = _node_of(src)
        info: dict[str, Any] = {"node": node_name, "from": str(src.root), "from_node": source,
                                "made_at": clock.now().isoformat(timespec="seconds"),
                                "hq_cert_sha256": fingerprint.hex(), "host": host}
        write_atomic(new.root / NODE_FILE, json.dumps(info, ensure_ascii=False, indent=1).encode("utf-8"))
        stage.commit()
    except BaseException:
        stage.discard()
        raise
    return HqDir(dst)


def node_name_of(hq: HqDir) -> str | None:
    """The node's name from its ``node.json`` (a directory made by ``hq init`` has none)."""
    return _node_of(hq)


def _node_of(hq: HqDir) -> str | None:
    try:
        data = json.loads((hq.root / NODE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("node") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def _copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (the backup API, as hq/backup.py does)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    a = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    b = sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        b.close()
        a.close()


def own_cert_differs(a: HqDir, b: HqDir) -> bool:
    """True when the two nodes present different TLS certificates and keys (a check for tests and
    ``meibo compliance``)."""
    pa, pb = PkiPaths(a.pki), PkiPaths(b.pki)
    return pa.hq_cert.read_bytes() != pb.hq_cert.read_bytes() and pa.hq_key.read_bytes() != pb.hq_key.read_bytes()
