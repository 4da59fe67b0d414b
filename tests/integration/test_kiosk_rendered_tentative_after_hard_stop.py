"""Rendered kiosk (real widgets, offscreen) over a real HQ: the voter checked in at T01 comes to T02;
the red 投票済 stop offers 仮投票; the supervisor records it through the form; the screen says to use
the 仮投票 envelope; T02's journal holds a ``tentative`` entry and HQ's ledger shows one ballot
(T01's), no alert, and the 仮投票 among its other events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appliance import procedures as P
from ground.barcode import make_barcode
from ground.events import EventKind
from tests.integration.sync_env import checkin
from tests.integration.test_kiosk_rendered_scan_to_green import kiosk, kiosk_env, start_hq, stop
from ui_kivy.presenters.app_flow import Screen
from ui_kivy.presenters.procedures import TENTATIVE_INSTRUCTION
from ui_kivy.rendered import frame, offscreen_env, run_rendered, until

pytestmark = [pytest.mark.ui, pytest.mark.timeout(40)]

ALL = ["shu", "shinsa", "governor", "mayor"]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_second_station_red_then_tentative_recorded(tmp_path: Path) -> None:
    env = kiosk_env(tmp_path)
    await start_hq(env)
    try:
        a = env.agent("T01")
        ta = asyncio.create_task(a.run())
        await until(a.online.is_set, 10)
        _, res = await checkin(a, "100001")
        assert res is not None and res.withheld == []
        await stop(a, ta)

        flow, agent, task = await kiosk(env, "T02")

        async def script(root: Any) -> None:
            flow.on_barcode(make_barcode("100001", agent.term.config.barcode))
            assert flow.screen is Screen.CONFIRM and flow.confirm is not None, flow.notice
            if flow.confirm.can_hand:  # HQ's verdict, not yet its flag: the reason is chosen first
                root.press("1号 仕事")
                await frame()
            root.press(flow.confirm.button_text)
            await until(lambda: flow.screen is Screen.RESULT)
            assert root.banner.title == "× 投票済 — 交付しない" and root.banner.colour == "red"
            root.press("仮投票（管理者）")
            await until(lambda: flow.screen is Screen.TENTATIVE)
            shown = "\n".join(root.texts())
            assert "仮投票（公職選挙法50条）— 通常の投票用紙は交付しない" in shown and "● 投票済の申立て" in shown
            with pytest.raises(LookupError):  # who decided not chosen yet: the record button is disabled
                root.button("仮投票を記録する")
            root.press("投票管理者")
            await frame()
            root.press("仮投票を記録する")
            await until(lambda: flow.tentative is not None and flow.tentative.done is not None)
            shown = "\n".join(root.texts())
            assert TENTATIVE_INSTRUCTION in shown and "仮投票を記録しました（記録番号" in shown
            assert "交付する" not in shown.replace("交付しない", "")
            root.press("次の方へ")
            await frame()
            assert flow.screen is Screen.IDLE

        await run_rendered(flow, script)
        kinds = [k for (k,) in agent.term.store.conn.execute("SELECT kind FROM journal ORDER BY seq")]
        assert kinds.count("tentative") == 1  # (a withheld check-in too when HQ's verdict came before its flag)
        rows = agent.term.store.conn.execute("SELECT count(*) FROM voted WHERE terminal='T02'").fetchone()
        assert rows[0] == 0
        await until(lambda: agent.pending() == 0, 10)
        assert env.node is not None
        ledger = env.node.ledger
        assert all(ledger.ballot_count("100001", c) == 1 for c in ALL)
        assert ledger.active_alerts() == []
        tent = [e for e in ledger.other_events if e.kind is EventKind.TENTATIVE]
        assert len(tent) == 1 and tent[0].data["voter"] == "100001" and tent[0].data["contests"] == ALL
        assert P.station_figures(agent.term).tentative == 1
        await stop(agent, task)
    finally:
        await env.stop_hq()
