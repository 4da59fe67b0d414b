"""Failover to the first online verdict (issue 18, part of ``python -m bench pg``): the whole path a
poll worker waits through, on real servers and real processes, at two ledger sizes.

A PostgreSQL primary with a synchronous standby (tooling/pgcluster.py), a ledger of N events
already in the store, two real ``meibo hq serve`` processes through the multi-host DSN (A leading,
B ``--standby`` with its own certificate for the election's HQ name), one station's sync agent with
``[hq] addresses`` naming both and the terminal's default settings (back-off, verdict budget).
Timed: from the SIGKILL of the primary database and of HQ A (``pg_ctl promote`` of the standby
started at once, as Patroni or the operator would) to the first check-in at the station that gets
an online verdict (not オフライン受付) from B. Check-ins are tried one after another (50 ms apart);
while the link is down each try comes back オフライン受付 after the agent's short grace, so the
figure's resolution is one try (``checkins_tried`` says how many).

Floor, from the same run: ``pg_ctl promote`` alone (kill → the standby accepts writes), which no
HQ can beat; the standby node's lock grace (hq/standby.py ``StandbySettings.grace_s``) is printed
beside it, a wait chosen by design. The ratio of the two sizes' figures shows whether the failover
depends on the ledger's size (B's ledger is warm: it should not). The issue's goal: ≤ 10 s.

``MEIBO_BENCH_PG_VERDICT_EVENTS`` (default ``10000,200000``) sets the two ledger sizes.

A benchmark: it drives real ``meibo`` processes and servers from outside; nothing of meibo imports it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir
from hq.standby import StandbySettings
from hq.store import HqStore
from provisioning.pki import hq_server_name
from sync_protocol.client import SyncAgent, SyncSettings
from sync_protocol.codec import decode
from bench.sync import _frames
from tests.integration.hq_nodes_env import node_with_own_cert, two_node_env, until
from tests.integration.sync_env import free_port
from tooling.pgcluster import PgNode, multi_host_dsn, new_base, remove_base, start_primary, start_standby

ELECTION = "bench-fo"
MEIBO = str(Path(sys.executable).parent / "meibo")
RETRY_OFFLINE_S = 0.05  # between check-ins while the station is offline
READY_TIMEOUT_S = 300.0  # a node loading a large ledger before it says listening / standby
VERDICT_TIMEOUT_S = 60.0  # bounds a failure only


class _Serving:
    """One ``meibo hq serve --json`` process; its stdout lines read by a thread."""

    def __init__(self, hqdir: Path, dsn: str, port: int, *extra: str) -> None:
        self.log = open(hqdir.parent / f"serve-{port}.log", "wb")
        self.p = subprocess.Popen([MEIBO, "hq", "serve", str(hqdir), "--dev-loopback", "--store", dsn, "--json",
                                   "--listen", f"127.0.0.1:{port}", *extra], stdout=subprocess.PIPE, stderr=self.log)
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(json.loads(line))

    def said(self, code: str) -> bool:
        return any(m.get("code") == code for m in self.lines)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._reader.join(5)
        if self.p.stdout is not None:
            self.p.stdout.close()
        self.log.close()


def _prefill(hq: HqDir, dsn: str, events: int) -> int:
    """``events`` check-ins of 20 other terminals, committed 500 at a time (not timed)."""
    frames, _ = _frames(20, max(1, events // 20), ELECTION, prefix="F")
    store = HqStore(hq, store_url=dsn)
    try:
        total = 0
        for _, data in frames:
            evs = decode(data).events
            store.commit(evs)
            total += len(evs)
        return total
    finally:
        store.close()


async def _first_online_verdict(agent: SyncAgent, address: str, first: int,
                                timeout_s: float = VERDICT_TIMEOUT_S) -> tuple[float, int]:
    """Check voters ``first``+1, +2, … (the roll's test voters: 600 of them, ~30 s of tries) in one
    after another until one gets an online verdict from ``address``; (when, tries)."""
    tries = 0
    async with asyncio.timeout(timeout_s):
        while True:
            tries += 1
            local = agent.term.checkin(str(first + tries), "clerk1")
            assert local.seq is not None
            res = await agent.resolve(local.seq, [c.contest for c in local.handed])
            if not res.provisional and agent.hq_address == address:
                return time.perf_counter(), tries
            await asyncio.sleep(RETRY_OFFLINE_S)


async def _one(work: Path, events: int) -> dict[str, Any]:
    base = new_base()
    a = b = None
    try:
        primary = start_primary(base, "pg1", synchronous_standby="pg2")
        standby = start_standby(primary, base, "pg2")
        dsn = multi_host_dsn([primary, standby])
        port_a, port_b = free_port(), free_port()
        env = two_node_env(work / "site", port_a, port_b, election=ELECTION)
        hq_b = node_with_own_cert(env.hq, work / "hq-b", hq_server_name(ELECTION))
        stored = await asyncio.to_thread(_prefill, env.hq, dsn, events)
        a = _Serving(env.hq.root, dsn, port_a)
        await until(lambda: a is not None and a.said("listening"), READY_TIMEOUT_S)
        b = _Serving(hq_b.root, dsn, port_b, "--standby")
        await until(lambda: b is not None and b.said("standby"), READY_TIMEOUT_S)
        agent = SyncAgent(env.terminals["T01"], env.terminal("T01"), SyncSettings())  # a terminal's defaults
        task = asyncio.create_task(agent.run())
        try:
            await until(agent.online.is_set, 30)
            # A's online verdict before the failover (once the agent has taken the flag stream)
            _, warm = await _first_online_verdict(agent, f"127.0.0.1:{port_a}", 100000, READY_TIMEOUT_S)

            t0 = time.perf_counter()
            primary.kill()  # the database's machine dies, and the leading HQ with it
            a.p.kill()
            t_killed = time.perf_counter()
            promote = asyncio.create_task(asyncio.to_thread(_timed_promote, standby, t_killed))
            verdict_at, tries = await _first_online_verdict(agent, f"127.0.0.1:{port_b}", 100000 + warm)
            promoted = await promote
        finally:
            agent.stop()
            await asyncio.gather(task, return_exceptions=True)
            agent.term.close()
        return {"name": "failover_to_online_verdict", "ledger_events": stored,
                "kill_to_first_online_verdict_s": round(verdict_at - t0, 3),
                "floor_promote_s": round(promoted, 3),
                "ratio_to_floor": round((verdict_at - t0) / promoted, 2),
                "standby_lock_grace_s": StandbySettings().grace_s, "checkins_tried": tries,
                "goal_s": 10.0, "floor": "pg_ctl promote alone (kill → the standby accepts writes)"}
    finally:
        for node in (a, b):
            if node is not None:
                node.stop()
        remove_base(base)


def _timed_promote(node: PgNode, since: float) -> float:
    """``pg_ctl promote`` until the node accepts writes; seconds from ``since`` (the kill)."""
    node.promote()
    return time.perf_counter() - since


def run() -> list[dict[str, Any]]:
    sizes = [int(s) for s in os.environ.get("MEIBO_BENCH_PG_VERDICT_EVENTS", "10000,200000").split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="meibo-bench-pgv-") as d:
        for n in sizes:
            results.append(asyncio.run(_one(Path(d) / f"n{n}", n)))
    if len(results) == 2:
        small, large = results
        results.append({"name": "failover_to_online_verdict_size_dependence",
                        "ledger_events": (small["ledger_events"], large["ledger_events"]),
                        "ratio_large_to_small": round(large["kill_to_first_online_verdict_s"]
                                                      / small["kill_to_first_online_verdict_s"], 2)})
    for r in results:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()), flush=True)
    return results


__all__ = ["run"]
