"""Rendered kiosk (real widgets, offscreen) on a real store: a check-in recorded while the kiosk died
before drawing its result. At the next start the first screen asks about it; 交付していない → the
supervisor PIN → the check-in is voided (中断のため交付せず) and the kiosk is ready for the next voter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ground.events import EventKind, decode
from tests.builders import TEST_PIN
from tests.integration.test_kiosk_rendered_declared_tentative import real_flow
from tests.integration.test_kiosk_rendered_zaigai_to_green import press_key
from tests.unit.ui_kivy.conftest import barcode, check_in
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered
from ui_kivy.service import TerminalService

pytestmark = [pytest.mark.ui, pytest.mark.timeout(40)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_prompt_first_then_void_behind_the_pin(tmp_path: Path) -> None:
    before, term = real_flow(tmp_path)
    before.on_barcode(barcode("100004"))
    lost = await check_in(before)  # recorded; no window ever drew it (the kiosk "died" here)
    assert lost is not None and lost.seq is not None
    flow = KioskFlow(TerminalService(term), "係員B")  # the restart

    async def script(root: Any) -> None:
        shown = "\n".join(root.texts()).replace("\u00a0", " ")
        assert "！ 中断された受付があります" in shown
        assert f"受付 {lost.seq}（[font=meibo_name]佐藤 一郎[/font] 12:00）は結果を表示する前に中断されました。" in shown.split("\n")
        assert "投票用紙を交付しましたか？" in shown.split("\n")  # the question on its own line
        root.press("交付していない")
        await frame()
        assert flow.screen is Screen.PIN
        for d in TEST_PIN:
            press_key(root, d)
        root.press("確定")
        await frame()
        assert flow.screen is Screen.IDLE
        assert f"受付 {lost.seq} を取り消しました（理由: 中断のため交付せず）" in root.texts()
        assert "▶ 入場整理券をスキャンしてください" in root.texts()

    await run_rendered(flow, script)
    evs = [decode(bytes(b)) for (b,) in term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
    assert [(e.ref, e.data["reason"]) for e in evs if e.kind is EventKind.VOID] == [(lost.seq, "中断のため交付せず")]
    term.close()
