"""Rendered kiosk (real widgets, offscreen) over a real HQ: a 在外選挙人 at an early station, from the
idle button through the 在外選挙人番号 pad, the confirm screen (氏名, カナ, 和暦, 居住国), the
在外選挙人証番号 pad and the 代理投票 toggle (recorded on the journal entry), to the green 受付完了
with the two national ballots in order and the local contests refused with the reason; the result is
marked shown (locally) once drawn. The same 在外選挙人 at a second early station is the red 投票済 stop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appliance import journal
from tests.integration.test_kiosk_rendered_scan_to_green import kiosk_env, start_hq, stop
from tests.integration.sync_env import Env
from tests.unit.ui_kivy.zaigai_data import install_zaigai
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered, until
from ui_kivy.service import META_LAST_SHOWN, TerminalService

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def zaigai_kiosk(env: Env, tid: str) -> tuple[KioskFlow, Any, Any]:
    agent = env.agent(tid)
    store = agent.term.store
    install_zaigai(store)  # HQ's signed 在外 package, installed as a terminal takes it
    with store.atomic() as c:
        store.set_meta(c, "roll_version", "1")
    task = asyncio.create_task(agent.run())
    await until(agent.online.is_set, 10)
    svc = TerminalService(agent.term, agent)
    svc.set_station("open", "管理者")
    return KioskFlow(svc, "係員A"), agent, task


def press_key(root: Any, key: str) -> None:
    """The shown, enabled key whose text is exactly ``key`` (``root.press`` matches by containment)."""
    from kivy.uix.button import Button

    hits = [w for w in root.shown() if isinstance(w, Button) and w.text == key and not w.disabled]
    assert len(hits) == 1, [w.text for w in hits]
    hits[0].dispatch("on_release")


def press_key_or_raise(root: Any, key: str) -> None:
    try:
        press_key(root, key)
    except AssertionError:
        raise LookupError(key) from None


async def _type(root: Any, digits: str) -> None:
    for d in digits:
        press_key(root, d)
    await frame()


async def test_zaigai_green_then_red_at_a_second_station(tmp_path: Path) -> None:
    env = kiosk_env(tmp_path)
    await start_hq(env)
    try:
        flow, agent, task = await zaigai_kiosk(env, "T01")

        async def green(root: Any) -> None:
            await until(lambda: "● 本部: 接続中" in root.texts())
            root.press("在外選挙人")
            await frame()
            assert flow.screen is Screen.ZAIGAI_ID
            await _type(root, "900001")
            assert "在外選挙人番号: 900001" in root.texts()
            press_key(root, "検索")
            await until(lambda: flow.screen is Screen.ZAIGAI_CONFIRM)
            shown = "\n".join(root.texts())
            for part in ("[b][font=meibo_name]鈴木 一郎[/font][/b]", "スズキ イチロウ", "昭和50年5月5日（51歳）", "アメリカ合衆国"):
                assert part in shown
            with pytest.raises(LookupError):
                press_key_or_raise(root, "受付")  # disabled until the card number and the 宣誓書事由
            await _type(root, "12345678")
            root.press("1号 仕事")
            await frame()
            press_key(root, "代理投票")  # the toggle on the real widget: chosen shows a ● (not colour alone)
            await frame()
            assert "● 代理投票" in root.texts() and "点字投票" in root.texts() and flow.marks.proxy
            press_key(root, "受付")
            await until(lambda: flow.screen is Screen.RESULT)
            assert flow.result is not None and flow.result.seq is not None
            entry = journal.entry(agent.term.store, flow.result.seq)
            assert entry is not None and entry.data.get("proxy") is True and entry.data.get("zaigai") is True
            assert "braille" not in entry.data
            b = root.banner
            assert b.title == "✓ 受付完了" and b.colour == "green"
            shown = "\n".join(root.texts())
            assert "[b]1. 衆議院小選挙区選出議員選挙[/b]" in shown and "[b]2. 最高裁判所裁判官国民審査[/b]" in shown
            assert "3." not in shown and "在外選挙人は国政選挙だけです" in shown
            assert flow.result is not None and flow.result.seq is not None
            seq = flow.result.seq
            await until(lambda: agent.term.store.get_meta(META_LAST_SHOWN) == str(seq))  # drawn → marked
            root.press("次の方へ")
            await frame()
            assert flow.screen is Screen.IDLE

        await run_rendered(flow, green)
        await until(lambda: agent.pending() == 0, 10)
        await stop(agent, task)

        flow2, agent2, task2 = await zaigai_kiosk(env, "T02")

        async def red(root: Any) -> None:
            root.press("在外選挙人")
            await frame()
            await _type(root, "900001")
            press_key(root, "検索")
            await frame()
            await _type(root, "12345678")
            root.press("2号 旅行")
            await frame()
            press_key(root, "受付")
            await until(lambda: flow2.screen is Screen.RESULT)
            assert root.banner.title == "× 投票済 — 交付しない" and root.banner.colour == "red"
            shown = "\n".join(root.texts())
            assert "交付しない" in shown and "✓ 交付する" not in shown
            buttons = [w.text for w in root.shown() if type(w).__name__ in ("Button", "Big")]
            assert sorted(buttons) == sorted(["次の方へ", "仮投票（管理者）"])

        await run_rendered(flow2, red)
        assert env.node is not None
        assert all(env.node.ledger.ballot_count("Z:900001", c) == 1 for c in ("shu", "shinsa"))
        await stop(agent2, task2)
    finally:
        await env.stop_hq()
