"""Rendered kiosk (real widgets, offscreen) over a real HQ: a simulated scanner → confirm → green;
the same voter at a second station → red 投票済 (HQ's flag or verdict, whichever comes first)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ground.barcode import make_barcode
from ground.clock import FixedClock
from hardware.rig import TerminalHardware
from hardware.scanner.simulator import ScannerSimulator, SimulatedScanner
from tests.builders import jst
from tests.integration.sync_env import Env, make_env
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered, until
from ui_kivy.service import TerminalService

pytestmark = [pytest.mark.ui, pytest.mark.timeout(40)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


def kiosk_env(tmp_path: Path) -> Env:
    env = make_env(tmp_path)
    env.clock = FixedClock(jst(2027, 4, 20, 12, 0))
    return env


async def start_hq(env: Env) -> None:
    await env.start_hq()
    assert env.runner is not None
    # aiohttp waits up to 60 s for open handlers on cleanup; an HQ session handler sometimes
    # outlives its client's close, so keep the test's shutdown short.
    env.runner._shutdown_timeout = 2.0


async def kiosk(env: Env, tid: str, online: bool = True) -> tuple[KioskFlow, Any, Any]:
    agent = env.agent(tid)
    task = asyncio.create_task(agent.run())
    if online:
        try:
            await until(agent.online.is_set, 10)
        except TimeoutError:
            raise AssertionError(f"{tid} not online: {agent.status()}")
    store = agent.term.store
    with store.atomic() as c:  # sync_env puts voters in directly; lookups want an installed roll
        store.set_meta(c, "roll_version", "1")
    svc = TerminalService(agent.term, agent)
    svc.set_station("open", "管理者")
    return KioskFlow(svc, "係員A"), agent, task


async def stop(agent: Any, task: Any) -> None:
    agent.stop()
    await asyncio.wait_for(task, 10)
    agent.term.close()


async def test_scanner_confirm_green_then_second_station_red(tmp_path: Path) -> None:
    env = kiosk_env(tmp_path)
    await start_hq(env)
    try:
        flow, agent, task = await kiosk(env, "T01")
        sim = ScannerSimulator()
        fmt = agent.term.config.barcode
        hw = TerminalHardware([], SimulatedScanner(sim, fmt, clock=env.clock), clock=env.clock)
        hw.on_scan(flow.on_scan_event)

        async def green(root: Any) -> None:
            assert "▶ 入場整理券をスキャンしてください" in root.texts()
            await until(lambda: "● 本部: 接続中" in root.texts())
            sim.scan_voter("100001", fmt)
            await until(lambda: flow.screen is Screen.CONFIRM)
            assert "[b]山田 太郎[/b]" in root.texts() and "テスト 1" in root.texts()
            root.press("1号 仕事・用務に従事")  # 宣誓書事由 first (early station)
            await frame()
            root.press("受付（名簿対照）")
            await until(lambda: flow.screen is Screen.RESULT)
            b = root.banner
            assert b.title == "✓ 受付完了" and b.colour == "green"
            assert tuple(b.bg) == (0.05, 0.50, 0.20, 1)
            shown = root.texts()
            assert "[b]1. 衆議院小選挙区選出議員選挙[/b]" in shown and "[b]4. 横浜市長選挙[/b]" in shown
            root.press("次の方へ")
            await frame()
            assert flow.screen is Screen.IDLE

        async with hw:
            await run_rendered(flow, green)
        await stop(agent, task)

        flow2, agent2, task2 = await kiosk(env, "T02")

        async def red(root: Any) -> None:
            flow2.on_barcode(make_barcode("100001", agent2.term.config.barcode))
            assert flow2.screen is Screen.CONFIRM, flow2.notice
            assert flow2.confirm is not None
            if flow2.confirm.can_hand:  # HQ's flag may already have reached T02: then nothing to choose
                root.press("2号 旅行")
                await frame()
            root.press(flow2.confirm.button_text)
            await until(lambda: flow2.screen is Screen.RESULT)
            b = root.banner
            assert b.title == "× 投票済 — 交付しない" and b.colour == "red"
            assert tuple(b.bg) == (0.75, 0.08, 0.08, 1)
            shown = "\n".join(root.texts())
            assert "中区役所 期日前投票所" in shown and "交付しないでください" in shown
            assert "✓ 交付する" not in shown
            buttons = [w.text for w in root.shown() if type(w).__name__ in ("Button", "Big")]
            assert sorted(buttons) == sorted(["次の方へ", "仮投票（管理者）"])  # the hard stop: nothing hands a ballot

        await run_rendered(flow2, red)
        await stop(agent2, task2)
    finally:
        await env.stop_hq()
