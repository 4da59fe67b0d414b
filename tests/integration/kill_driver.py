"""A terminal process for the SIGKILL tests: checks voters in one after another (with the sync
agent in-process when an HQ address is given) and prints ``ACK <seq> <voter> <acked>`` only once
the check-in is durable and its outcome recorded: what a poll worker would have been told.
``acked`` is how far HQ has acknowledged this terminal's journal, so a test can kill HQ at
events it saw happen. ``count`` 0 means: take orders from standard input, one number a line (check
in that many more voters), until it closes; so a test decides when check-ins are in flight."""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
from pathlib import Path

from ground.clock import FixedClock
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal
from sync_protocol.client import SyncAgent, SyncSettings
from tests.builders import EARLY_NOON


async def main(tdir_path: str, first: int, count: int, with_hq: bool) -> None:
    tdir = TerminalDir(Path(tdir_path))
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    agent = SyncAgent(tdir, term, SyncSettings(verdict_budget_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.2))
    task = asyncio.create_task(agent.run()) if with_hq else None
    orders: asyncio.Queue[int] = asyncio.Queue()
    if count == 0:
        loop = asyncio.get_running_loop()

        def read_orders() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(orders.put_nowait, int(line))
            loop.call_soon_threadsafe(orders.put_nowait, -1)

        threading.Thread(target=read_orders, daemon=True).start()
    budget = count
    for i in itertools.count(first):
        if budget == 0:
            if count != 0 or (budget := await orders.get()) < 0:
                break
        budget -= 1
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
