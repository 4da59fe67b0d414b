"""Rendered kiosk (real offscreen Kivy window) on two HQ nodes (issue 18): the status bar says
which node the terminal talks to, and when the first node stops and the agent moves to the
second, the poll worker sees the name change to the second's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hq.server import HqNode, HqSettings, serve
from tests.integration.test_kiosk_rendered_scan_to_green import kiosk_env, start_hq, stop
from tests.integration.sync_env import Env, free_port
from ui_kivy.presenters.app_flow import KioskFlow
from ui_kivy.rendered import offscreen_env, run_rendered, until
from ui_kivy.service import TerminalService

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def kiosk(env: Env, tid: str, **agent_kw: Any) -> tuple[KioskFlow, Any, Any]:
    """test_kiosk_rendered_scan_to_green's kiosk, its agent given ``agent_kw``."""
    agent = env.agent(tid, **agent_kw)
    task = asyncio.create_task(agent.run())
    await until(agent.online.is_set, 10)
    with agent.term.store.atomic() as c:  # sync_env puts voters in directly; lookups want an installed roll
        agent.term.store.set_meta(c, "roll_version", "1")
    svc = TerminalService(agent.term, agent)
    svc.set_station("open", "管理者")
    return KioskFlow(svc, "係員A"), agent, task


async def test_status_bar_shows_the_hq_node_and_its_change(tmp_path: Path) -> None:
    env = kiosk_env(tmp_path)
    a, b = f"127.0.0.1:{env.port}", f"127.0.0.1:{free_port()}"
    await start_hq(env)
    flow, agent, task = await kiosk(env, "T01", hq_addresses=[a, b])  # [hq] addresses = [a, b]
    runner_b = None
    node_b: HqNode | None = None

    async def watch(root: Any) -> None:
        nonlocal runner_b, node_b
        await until(lambda: f"本部: {a}" in root.texts() and "● 本部: 接続中" in root.texts(), 15)
        await env.stop_hq()  # node A is gone; B takes the same HQ directory
        node_b = HqNode(env.hq, HqSettings())
        runner_b = await serve(node_b, "127.0.0.1", int(b.rsplit(":", 1)[1]))
        runner_b._shutdown_timeout = 2.0
        await until(lambda: f"本部: {b}" in root.texts() and "● 本部: 接続中" in root.texts(), 20)
        assert f"本部: {a}" not in root.texts()

    try:
        await run_rendered(flow, watch)
    finally:
        await stop(agent, task)
        if node_b is not None:
            await node_b.stop()
        if runner_b is not None:
            await runner_b.cleanup()
        await env.stop_hq()
