"""Rendered kiosk (real widgets, offscreen) in 試験モード on a real enrolled terminal's test area:
the red 試験 banner is on the idle and the confirm screen (a 【テスト】 voter scanned), the
supervisor menu (behind the PIN) offers to end test mode, and ending it destroys the test area and
shows the ゼロ確認 result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance import rehearsal
from ground.barcode import make_barcode
from ground.clock import FixedClock
from tests.builders import TEST_PIN, jst
from tests.integration.sync_env import make_env
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.rehearsal import BANNER, LEAVE, RehearsalPresenter
from ui_kivy.rehearsal_service import AreaPort, TestAreaService, open_kiosk_terminal
from ui_kivy.rendered import drive_app, frame, offscreen_env, run_rendered, until

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


def proof_app(presenter: RehearsalPresenter, done: list[bool]) -> Any:
    """The app showing ZeroProofRoot, as StationRun shows it after leaving test mode."""
    from kivy.app import App

    from ui_kivy.app import prepare_kivy
    from ui_kivy.fonts import install_default_font
    from ui_kivy.views.rehearsal import ZeroProofRoot

    install_default_font(prepare_kivy((1280, 800)))

    class ProofApp(App):
        def build(self) -> Any:
            return ZeroProofRoot(presenter, on_done=lambda: done.append(True))

    return ProofApp()


async def test_banner_on_idle_and_confirm_and_leaving_shows_the_zero_proof(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    env.clock = FixedClock(jst(2027, 4, 12, 9, 0))  # before the first day of voting, as rehearsals are
    t1 = env.terminals["T01"]
    rehearsal.start(t1, env.clock)
    term, agent, svc = open_kiosk_terminal(t1, env.clock)  # the kiosk's own choice: the test area
    assert isinstance(svc, TestAreaService) and term.config.election_id == "sync-test.rehearsal"
    assert not svc.check_pin("0000") and svc.check_pin(TEST_PIN)  # the real supervisor PIN
    svc.set_station("open", "管理者")  # 開設 of the test station: an entry of the test journal
    asked: list[str] = []
    presenter = RehearsalPresenter(AreaPort(t1, env.clock), asked.append)
    flow = KioskFlow(svc, "係員A")
    flow.rehearsal = presenter  # type: ignore[attr-defined]  # as the app wires it (views/rehearsal.py)

    async def script(root: Any) -> None:
        from kivy.core.window import Window

        def banner_on_top() -> None:
            b = root.test_banner
            assert b is not None and BANNER in root.texts() and root.texts().count("試験") == 2
            assert b.top == Window.height and b.width == Window.width  # the top strip, full width

        assert flow.screen is Screen.IDLE
        banner_on_top()
        flow.on_barcode(make_barcode("0000000001", term.config.barcode))
        await until(lambda: flow.screen is Screen.CONFIRM)
        banner_on_top()
        assert any("【テスト】" in t for t in root.texts())  # a test voter, marked as such
        flow.back()
        await frame()
        flow.open_supervisor()
        for d in TEST_PIN:
            flow.pin_digit(d)
        assert flow.pin_submit()
        await until(lambda: flow.screen is Screen.MENU)
        banner_on_top()
        root.press("試験モードを終了（ゼロ確認）")
        assert asked == [LEAVE]

    await run_rendered(flow, script)
    # what the app does on LEAVE: the kiosk on the test area is gone, its terminal closed; then
    # finish (destroy, prove) and the ゼロ確認 screen
    agent.stop()
    term.close()
    proof = presenter.leave()
    assert proof is not None and proof.verdict == "PASS_UNCONFIRMED"  # no HQ asked here: 未確認
    assert not rehearsal.active(t1) and not (t1.root / rehearsal.AREA).exists()

    async def shows_proof(view: Any) -> None:
        await frame(3)
        shown = view.texts()
        assert "ゼロ確認: 確認済（一部未確認）" in shown, shown
        assert any(t.startswith("○ 本番の受付記録: 0 件") for t in shown), shown
        assert any(t.startswith("○ 試験のデータの消去") for t in shown), shown
        assert any(t.startswith("－ 名簿・選挙の版が本部と一致: 未確認") for t in shown), shown
        assert "試験" not in shown  # the banner is gone with test mode
        done.append(True)
        view.press("受付画面へ")

    done: list[bool] = []
    await drive_app(proof_app(presenter, done), shows_proof, (1280, 800))
    assert done == [True, True]
    with env.terminal("T01") as real:  # back to 本番: the real journal is as it was, empty
        assert real.head().seq == 0
