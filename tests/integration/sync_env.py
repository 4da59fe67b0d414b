"""A real HQ and real terminals for integration tests: HQDIR made by ``hq init``, terminals by
``hq enroll-local`` (so each has a CA-issued TLS client certificate and, with the supervisor PIN
``TEST_PIN``, an encrypted store), each station opened (``meibo terminal open``), voters in each
terminal's store, HQ serving TLS 1.3 on a loopback port in the test's event loop.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import HqDir, TerminalDir
from appliance.store import Store
from appliance.terminal import Terminal
from sync_protocol.client import Resolution, SyncAgent, SyncSettings
from hq.server import HqNode, HqSettings, serve
from tests.builders import EARLY_NOON, TEST_PIN, election_toml, insert_voters, open_station, voter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


VOTERS = [voter(f"{100000 + i}", name_kana=f"テスト {i}") for i in range(1, 601)]


@dataclass
class Env:
    root: Path
    port: int
    hq: HqDir
    clock: FixedClock = field(default_factory=lambda: FixedClock(EARLY_NOON))
    node: HqNode | None = None
    runner: web.AppRunner | None = None
    terminals: dict[str, TerminalDir] = field(default_factory=dict)

    def terminal(self, tid: str) -> Terminal:
        return Terminal.open(self.terminals[tid], self.clock)

    async def start_hq(self, settings: HqSettings | None = None) -> HqNode:
        self.node = HqNode(self.hq, settings or HqSettings())
        self.runner = await serve(self.node, "127.0.0.1", self.port)
        return self.node

    async def stop_hq(self) -> None:
        if self.node is not None:
            await self.node.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        self.node = self.runner = None

    def agent(self, tid: str, budget: float = 1.5, **kw: Any) -> SyncAgent:
        term = self.terminal(tid)
        return SyncAgent(self.terminals[tid], term, SyncSettings(verdict_budget_s=budget, backoff_initial_s=0.05,
                                                                 backoff_max_s=0.2), **kw)


def make_env(tmp: Path, terminals: dict[str, str] | None = None, port: int | None = None) -> Env:
    port = port or free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "election.toml"
    cfg.write_text(election_toml(election_id="sync-test", hq_address=f"127.0.0.1:{port}"), "utf-8")
    clock = FixedClock(EARLY_NOON)
    hq = HqDir(tmp / "hq")
    hq_init(hq.root, cfg, clock)
    env = Env(tmp, port, hq, clock)
    for tid, station in (terminals or {"T01": "E01", "T02": "E02"}).items():
        out = tmp / tid
        enroll_local(hq.root, tid, station, out, clock, pin=TEST_PIN)
        open_station(TerminalDir(out))
        store = Store(TerminalDir(out).store_path)
        insert_voters(store, VOTERS)
        store.close()
        env.terminals[tid] = TerminalDir(out)
    return env


async def checkin(agent: SyncAgent, voter_id: str) -> tuple[Any, Resolution | None]:
    local = agent.term.checkin(voter_id, "clerk1")
    if local.seq is None:
        return local, None
    return local, await agent.resolve(local.seq, [c.contest for c in local.handed])
