"""Rendered kiosk (real widgets, offscreen) on a real terminal store: a person not found by kana
search → 名簿に見つからない方（仮投票） → supervisor PIN → the declared name on the on-screen kana
pad → the declared birth date on the birth pad → reason, decider, contests → 仮投票を記録する.
The journal holds one ``tentative`` entry with the declared name and birth; no check-in, no ballot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ground.clock import FixedClock
from ground.events import EventKind, decode
from appliance.terminal import Terminal, write_pin
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir
from tests.integration.test_kiosk_rendered_zaigai_to_green import press_key
from tests.unit.ui_kivy.conftest import VOTERS
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.procedures import TENTATIVE_INSTRUCTION
from ui_kivy.rendered import frame, offscreen_env, run_rendered

pytestmark = [pytest.mark.ui, pytest.mark.timeout(40)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


def real_flow(tmp_path: Path) -> tuple[KioskFlow, Terminal]:
    from ui_kivy.service import TerminalService

    tdir = terminal_dir(tmp_path / "t", VOTERS)
    write_pin(tdir, TEST_PIN)
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    with term.store.atomic() as c:
        term.store.set_meta(c, "roll_version", "1")
    svc = TerminalService(term)
    svc.set_station("open", "管理者")
    return KioskFlow(svc, "係員A"), term


async def test_declared_name_tentative_through_the_widgets(tmp_path: Path) -> None:
    flow, term = real_flow(tmp_path)

    async def script(root: Any) -> None:
        root.press("検索")
        await frame()
        for k in ("ワ", "タ", "ナ", "ヘ", "゛"):
            press_key(root, k)
        await frame()
        root.press("一覧を見る")
        await frame()
        assert flow.screen is Screen.RESULTS and "0 件" in "\n".join(root.texts())
        root.press("名簿に見つからない方")
        await frame()
        assert flow.screen is Screen.PIN
        for d in TEST_PIN:
            press_key(root, d)
        root.press("確定")
        await frame()
        assert flow.screen is Screen.DECLARE_NAME
        assert "申立ての氏名（カナ）: ワタナベ" in root.texts()
        for k in ("空白", "ア", "キ", "ラ"):
            press_key(root, k)
        await frame()
        assert "申立ての氏名（カナ）: ワタナベ アキラ" in root.texts()
        root.press("次へ（生年月日）")
        await frame()
        assert flow.screen is Screen.DECLARE_BIRTH
        root.press("昭和")
        for d in "480312":
            press_key(root, d)
        await frame()
        press_key(root, "次へ")
        await frame()
        assert flow.screen is Screen.TENTATIVE
        shown = "\n".join(root.texts())
        assert "名簿に見つからない方（申立て）: ワタナベ アキラ 様  生年月日 昭和48年3月12日" in shown
        with pytest.raises(LookupError):
            root.button("仮投票を記録する")  # reason, decider and contests first
        root.press("管理者拒否")
        root.press("投票管理者")
        await frame()
        root.press("衆議院小選挙区")
        await frame()
        root.press("仮投票を記録する")
        await frame()
        shown = "\n".join(root.texts())
        assert TENTATIVE_INSTRUCTION in shown and "申立てによる選挙人 ワタナベ アキラ（1973年03月12日生）" in shown
        root.press("次の方へ")
        await frame()
        assert flow.screen is Screen.IDLE

    await run_rendered(flow, script)
    evs = [decode(bytes(b)) for (b,) in term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
    tent = [e for e in evs if e.kind is EventKind.TENTATIVE]
    assert len(tent) == 1 and tent[0].data["declared_name"] == "ワタナベ アキラ"
    assert tent[0].data["declared_birth"] == "1973-03-12" and list(tent[0].contests) == ["shu"]
    assert not any(e.kind is EventKind.CHECKIN for e in evs)
    assert term.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0] == 0
    term.close()
