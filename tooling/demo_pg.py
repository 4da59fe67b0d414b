"""The parts of ``meibo demo --store postgresql`` (issue 18): the same two-day election on a
PostgreSQL primary with a synchronous standby (tooling/pgcluster.py, Debian's binaries, run as the
``postgres`` user), the primary killed at noon on Saturday.

Not wired into tooling/demo.py yet (see the issue): this module holds what the driver needs.

- ``PgDemoSite``: the database pair under a base directory of its own under /tmp, the multi-host
  DSN both HQ nodes use (a new connection finds whichever node accepts writes), HQ's SQLite store
  copied in by ``meibo hq migrate-store`` before any node serves, and ``fail_primary()``: the
  primary SIGKILLed and the standby promoted (``pg_ctl promote``, what the operator does by hand,
  「運用者が待機系データベースを昇格」). ``close()`` kills and removes whatever still runs there, pass or
  fail: call it in a ``finally``.
- ``second_node()``: the standby HQ node's own directory, a copy of the first one's without its
  SQLite store, sockets or TLS key, with a certificate of its own from the election CA for the
  election's HQ name (modelled on tests/integration/hq_nodes_env.node_with_own_cert; hq/nodes.py's
  ``add_node`` replaces it once that lands).
- ``with_addresses()``: an election.toml whose ``[hq]`` names every node, in the order a terminal
  tries them (each behind its station's LTE emulator).
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir
from ground.clock import SystemClock
from ground.errors import MeiboError
from provisioning.pki import write_hq_cert
from tooling.meibo_process import run_meibo
from tooling.pgcluster import PgNode, multi_host_dsn, new_base, remove_base, start_primary, start_standby

# Files of an HQ directory a second node must not take over: the SQLite store (the nodes share
# the PostgreSQL one; a copy would be a second, diverging record), its journal and WAL files, the
# admin socket and locks of a running node, and the first node's TLS key (replaced below).
_NOT_COPIED = ("hq.db", "hq.db-*", "*.sock", "*.lock", "hq.key", "hq.pem")


@dataclass
class PgDemoSite:
    """The demo's PostgreSQL pair: ``pg1`` primary, ``pg2`` its synchronous standby."""

    base: Path
    primary: PgNode
    standby: PgNode
    say: Any = print
    failover: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, say: Any = print) -> PgDemoSite:
        base = new_base()
        try:
            primary = start_primary(base, "pg1", synchronous_standby="pg2")
            standby = start_standby(primary, base, "pg2")
        except BaseException:
            remove_base(base)
            raise
        say(f"PostgreSQL: 主系 pg1（ポート {primary.port}）と同期スタンバイ pg2（ポート {standby.port}）を起動")
        return cls(base, primary, standby, say)

    @property
    def dsn(self) -> str:
        return multi_host_dsn([self.primary, self.standby])

    def migrate(self, hq: HqDir) -> None:
        """HQ's records as made so far (hq init, the roll) copied from hq.db into the pair, verified
        by migrate-store itself; from now on every node serves ``--store dsn``. Before any node has
        served there may be no hq.db yet: then the first node to open the store creates its schema
        (the store's own migrations), and there is nothing to copy."""
        if not hq.hq_db.exists():
            self.say("本部の記録は PostgreSQL に作成します（hq.db はまだありません）")
            return
        run_meibo(["hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", self.dsn])
        self.say("本部の記録を PostgreSQL に移行しました（meibo hq migrate-store）")

    def fail_primary(self) -> float:
        """The database machine dies (SIGKILL, no checkpoint) and the operator promotes the
        standby. Returns the monotonic time of the kill, from which failover is measured."""
        self.primary.kill()
        killed = time.monotonic()
        self.say("    ✕ 主系データベース pg1 が停止（SIGKILL）")
        self.standby.promote()
        self.say(f"    運用者が待機系データベースを昇格（pg_ctl promote: pg2、{time.monotonic() - killed:.1f} 秒）")
        return killed

    def close(self) -> None:
        remove_base(self.base)


def second_node(hq: HqDir, root: Path, hosts: tuple[str, ...] = ()) -> HqDir:
    """Another machine's HQ directory for the same election: everything the first node's has but
    its store and its TLS key, and a key and certificate of its own for the election's HQ name
    (and ``hosts``, host:port)."""
    if root.exists():
        raise MeiboError(f"{root} はすでにあります", code="demo_step_failed")
    shutil.copytree(hq.root, root, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    node = HqDir(root)
    write_hq_cert(node.pki, node.config(), SystemClock(), hosts=hosts)
    return node


def with_addresses(toml: str, addresses: list[str]) -> str:
    """``toml`` with its one ``[hq] address`` line replaced by ``addresses = [...]``."""
    line = re.compile(r'^address = "[^"]*"$', re.M)
    if len(line.findall(toml)) != 1:
        raise MeiboError("election.toml に [hq] address が一つもないか、複数あります", code="demo_step_failed")
    listed = ", ".join(f'"{a}"' for a in addresses)
    return line.sub(f"addresses = [{listed}]", toml)
