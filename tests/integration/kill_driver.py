"""A terminal process for the SIGKILL tests: checks voters in one after another (with the sync
agent in-process when an HQ address is given) and prints ``ACK <seq> <voter>`` only once the
check-in is durable and its outcome recorded: what a poll worker would have been told."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from appliance.clock import FixedClock
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal
from sync_protocol.client import SyncAgent, SyncSettings
from tests.builders import EARLY_NOON


async def main(tdir_path: str, first: int, count: int, with_hq: bool) -> None:
    tdir = TerminalDir(Path(tdir_path))
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    agent = SyncAgent(tdir, term, SyncSettings(verdict_budget_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.2))
    task = asyncio.create_task(agent.run()) if with_hq else None
    for i in range(first, first + count):
        voter = str(100000 + i)
        local = term.checkin(voter, "kill")
        if local.seq is None:
            continue
        if with_hq:
            await agent.resolve(local.seq, [c.contest for c in local.handed])
        else:
            term.record_provisional(local.seq)
        print(f"ACK {local.seq} {voter} {agent.link.acked_seq}", flush=True)
    if task:
        agent.stop()
        await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "hq"))
