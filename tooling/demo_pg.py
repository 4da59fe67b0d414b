"""The parts of ``meibo demo --store postgresql`` (issue 18): the same two-day election on a
PostgreSQL primary with a synchronous standby (tooling/pgcluster.py, Debian's binaries, run as the
``postgres`` user), the primary killed at noon on Saturday.

``PgDemo`` is tooling/demo.py's ``Demo`` with these parts (``run_pg_demo``; cli/demo.py picks it
for ``--store postgresql``), so the SQLite demo stays as it was:

- ``PgDemoSite``: the database pair under a base directory of its own under /tmp, the multi-host
  DSN both HQ nodes use (a new connection finds whichever node accepts writes), HQ's SQLite store
  copied in by ``meibo hq migrate-store`` before any node serves, and ``fail_primary()``: the
  primary SIGKILLed and the standby promoted (``pg_ctl promote``, what the operator does by hand,
  「運用者が待機系データベースを昇格」). ``close()`` kills and removes whatever still runs there, pass or
  fail: call it in a ``finally``. A demo SIGKILLed before it can (a test's timeout) leaves nothing
  either: the base's watchdog (tooling/lifeline.py, started by ``new_base``) removes it.
- the standby HQ node's own directory is made by ``hq/nodes.add_node``, the office's provisioning
  path (``meibo hq add-node``): the first node's election, keys, CA and registry without its SQLite
  store or TLS key, a certificate of its own from the election CA for the election's HQ name, and
  ``node.json`` naming it ``hq-b`` (the name it leads under, in the store and on the console).
- ``with_addresses()``: an election.toml whose ``[hq]`` names every node, in the order a terminal
  tries them (each behind its station's LTE emulator).

Tooling: it may import every layer below (hq, sync_protocol, appliance, the PostgreSQL harness in
tooling/pgcluster.py); nothing but the CLI and tooling imports it, and it never imports the CLI.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir
from ground.clock import SystemClock
from ground.errors import MeiboError
from hq.nodes import add_node
from hq.store import HqStore
from sync_protocol.fault_proxy import FaultProxy
from sync_protocol.lte_link import PROFILES
from tooling.demo import Demo
from tooling.demo_day import StationPlan
from tooling.demo_report import DemoReport
from tooling.meibo_process import free_port, run_meibo
from tooling.pgcluster import PgNode, multi_host_dsn, new_base, remove_base, start_primary, start_standby

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


def with_addresses(toml: str, addresses: list[str]) -> str:
    """``toml`` with its one ``[hq] address`` line replaced by ``addresses = [...]``."""
    line = re.compile(r'^address = "[^"]*"$', re.M)
    if len(line.findall(toml)) != 1:
        raise MeiboError("election.toml に [hq] address が一つもないか、複数あります", code="demo_step_failed")
    listed = ", ".join(f'"{a}"' for a in addresses)
    return line.sub(f"addresses = [{listed}]", toml)


def point_terminal_at(tdir: Path, addresses: list[str]) -> None:
    """A terminal's election.toml and terminal.toml naming its own links to every HQ node (its
    station's LTE emulators, one per node), as the office's site configuration would."""
    cfg = tdir / "election.toml"
    text = cfg.read_text("utf-8")
    if "addresses = [" in text:
        text = re.sub(r"^addresses = \[[^\]]*\]$", 'address = "x"', text, count=1, flags=re.M)
    cfg.write_text(with_addresses(text, addresses), "utf-8")
    ident = tdir / "terminal.toml"
    t = re.sub(r'^hq_address = "[^"]*"$', f'hq_address = "{addresses[0]}"', ident.read_text("utf-8"), count=1,
               flags=re.M)
    ident.write_text(t, "utf-8")


class PgDemo(Demo):
    """``Demo`` on the pair: node A leads, node B is ``hq serve --standby``; at noon on Saturday
    the primary database and A are SIGKILLed, the standby database promoted, B takes over."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.site: PgDemoSite | None = None
        self.port_b = free_port()
        self.hq_a = self.hq
        self.hq_b = HqDir(self.root / "hq-b")
        self.killed_at: float | None = None
        self.verdict_times: list[float] = []
        self.report.store = "postgresql"

    def setup(self) -> None:
        super().setup()
        self.site = PgDemoSite.start(self.say)
        self.store_url = self.site.dsn
        self.report.pg_base = str(self.site.base)
        self.site.migrate(self.hq)
        add_node(self.hq, self.hq_b.root, "hq-b", SystemClock(), host=f"127.0.0.1:{self.port_b}")
        self.say("本部ノード hq-b を作成（meibo hq add-node: 専用の TLS 証明書、hq.db は写さない）")

    async def start(self) -> None:
        assert self.site is not None
        self.a = self._spawn(["hq", "serve", str(self.hq_a.root), "--dev-loopback", "--store", self.site.dsn,
                              "--listen", f"127.0.0.1:{self.hq_port}"], "hq.log")
        self.b = self._spawn(["hq", "serve", str(self.hq_b.root), "--dev-loopback", "--store", self.site.dsn,
                              "--standby", "--listen", f"127.0.0.1:{self.port_b}"], "hq-b.log")
        self.report.leader_before = "hq-a"
        for s in self.plan:
            addrs = []
            for node, port in (("a", self.hq_port), ("b", self.port_b)):
                proxy = FaultProxy(("127.0.0.1", port), rng=random.Random(self.rng.random()),
                                   profile=PROFILES[s.profile])
                await proxy.start()
                self.proxies[s.station if node == "a" else f"{s.station}/b"] = proxy
                host, pport = proxy.address
                addrs.append(f"{host}:{pport}")
            point_terminal_at(self.root / s.terminal, addrs)
            self._spawn(["terminal", "run", str(self.root / s.terminal)], f"{s.terminal}.log")
        self.say("本部サーバ 2 台（hq-a 主系、hq-b 待機）と端末の同期エージェントを起動"
                 "（PostgreSQL 主系＋同期スタンバイ、各端末に本部ごとの LTE 回線エミュレータ）")

    async def _link(self, s: StationPlan, up: bool) -> None:
        await super()._link(s, up)
        other = self.proxies[f"{s.station}/b"]
        if up:
            other.up()
        else:
            other.down(reset=True)

    async def one_checkin(self, *args: Any) -> None:
        asked = time.monotonic()  # a verdict asked for after A's kill can only come from B
        await super().one_checkin(*args)
        o = self.outcomes[-1]
        if o.seq is not None and not o.provisional and self.killed_at is not None and asked > self.killed_at:
            self.verdict_times.append(time.monotonic())

    async def play_day(self, label: str, stations: list[StationPlan], attempts: Any, incidents: Any) -> None:
        if label == "土":
            incidents = [*incidents, (12.0, self.kill_at_noon)]
        await super().play_day(label, stations, attempts, incidents)
        if self.killed_at is not None and not self.report.failover_s:
            self.report.failover_s = (self.verdict_times[0] - self.killed_at) if self.verdict_times else -1.0

    async def kill_at_noon(self) -> None:
        assert self.site is not None
        self.say("    ✕ 正午: 主系データベース pg1 と本部 hq-a の機械が停止（SIGKILL）")
        self.a.send_signal(signal.SIGKILL)
        self.killed_at = time.monotonic()
        await asyncio.to_thread(self.site.fail_primary)
        self.hq = self.hq_b  # the admin socket, revocations and the report go to the new leader

    async def reconcile(self) -> None:
        await super().reconcile()  # through the pair's DSN (self.store_url)
        store = HqStore(self.hq, store_url=self.store_url)
        try:
            lead = store.leader()
        finally:
            store.close()
        names = {f":{self.a.pid}": "hq-a", f":{self.b.pid}": "hq-b"}
        who = next((n for suffix, n in names.items() if lead.node.endswith(suffix)), lead.node)
        self.report.leader_after = f"{who}（epoch {lead.epoch}）"

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            if self.site is not None:
                self.site.close()
                self.say("PostgreSQL のサーバを停止し、削除しました")


def run_pg_demo(root: Path, *, stations: int = 6, voters: int = 100_000, hours: float = 13, speed: float = 600,
                checkins: int = 2400, seed: int = 1, say: Any = print) -> DemoReport:
    demo = PgDemo(root, stations, voters, hours, speed, checkins, seed, say)
    try:
        demo.setup()
    except BaseException:
        if demo.site is not None:
            demo.site.close()
        raise
    return asyncio.run(demo.run())
