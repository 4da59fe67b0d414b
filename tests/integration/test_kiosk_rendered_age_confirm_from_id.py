"""Rendered kiosk (real widgets, offscreen) on a real terminal store: 年齢確認 (issue 19). A voter
whose 生年月日 is 不詳 (平成21年, the year 18 years before election day) gets an amber box and the
ID buttons; 受付 is disabled until the poll worker presses the ID they checked; then the box turns
green, the 宣誓書事由 follow, and 受付 records the check-in with the ``age_confirmed`` mark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.terminal import Terminal, write_pin
from ground.birthdate import BirthDate
from ground.clock import FixedClock
from ground.events import EventKind, decode
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir, voter
from tests.unit.ui_kivy.conftest import barcode
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered, until
from ui_kivy.service import TerminalService

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_id_checked_then_checkin_carries_it(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", [voter("300001", name="不詳 若者", name_kana="フショウ ワカモノ",
                                               birth_date=BirthDate(2009))])  # type: ignore[arg-type]
    write_pin(tdir, TEST_PIN)
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    with term.store.atomic() as c:
        term.store.set_meta(c, "roll_version", "1")
    svc = TerminalService(term)
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")

    async def script(root: Any) -> None:
        flow.on_barcode(barcode("300001"))
        await frame()
        shown = "\n".join(root.texts())
        assert "！ 年齢確認が必要です" in shown and "平成21年不詳" in shown
        assert "生年月日" in shown and "年齢不詳" in shown
        ok = [w for w in root.shown() if type(w).__name__ in ("Button", "Big") and w.text.startswith("受付")]
        assert len(ok) == 1 and ok[0].disabled and ok[0].text == "受付（年齢確認の書類を選ぶ）"
        assert "1号 仕事・用務に従事" not in shown  # the ID first, the 宣誓書事由 after
        root.press("運転免許証")
        await frame()
        shown = "\n".join(root.texts())
        assert "✓ 年齢確認済み（運転免許証で18歳以上を確認）" in shown
        root.press("1号 仕事・用務に従事")
        await frame()
        root.press("受付（名簿対照）")
        await until(lambda: flow.screen is Screen.RESULT)
        assert root.banner.colour == "amber"  # no HQ link here: オフライン受付, recorded
        assert any("年齢確認済み" in t for t in root.texts())

    await run_rendered(flow, script)
    evs = [decode(bytes(b)) for (b,) in term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
    (ci,) = [e for e in evs if e.kind is EventKind.CHECKIN]
    assert ci.data["age_confirmed"] == "license" and ci.data["voter"] == "300001"
    term.close()
