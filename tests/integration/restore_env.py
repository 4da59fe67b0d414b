"""What the restored-from-backup tests share (issues 16, 18): an agent run until it is online and
stopped, started anew, HQ started on a PostgreSQL store, and a deadline wait on what the test sees.
Used by test_hq_restored_from_backup_loses_no_flag.py (SQLite) and its PostgreSQL forms
(test_hq_backup_pg_restore_loses_no_flag.py, test_hq_restored_from_pg_dump_loses_no_flag.py)."""

from __future__ import annotations

import asyncio

from hq.server import HqNode, HqSettings, serve
from tests.integration.sync_env import Env


async def start_hq_on(env: Env, dsn: str) -> HqNode:
    """env.start_hq() on the PostgreSQL store."""
    env.node = HqNode(env.hq, HqSettings(), store_url=dsn)
    env.runner = await serve(env.node, "127.0.0.1", env.port)
    return env.node


async def until(cond, timeout=15.0):
    """Wait for an event the test can see; the deadline only bounds a failure."""
    async def poll():
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def run_agent(agent):
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.online.wait(), 10)
    return task


async def stop_agent(agent, task):
    agent.stop()
    await asyncio.gather(task, return_exceptions=True)


def agent_again(env, agent):
    """The terminal's agent started anew (``meibo terminal run`` after a stop)."""
    agent.term.close()
    return env.agent(agent.term.terminal_id)
