"""``meibo kiosk`` (StationRun, rendered offscreen): in 試験モード the supervisor menu's
「試験手順を実行」 closes the test kiosk, runs the steps off the UI thread, shows the results and the
report PDF's name, and goes back to the test kiosk; leaving names the ゼロ確認書 PDF. The app's own
wiring (ui_kivy/app.py ``_switch_mode``), end to end; the real journal stays empty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance import rehearsal
from appliance.terminal import Terminal, write_pin
from ground.clock import FixedClock
from tests.builders import TEST_PIN, jst, terminal_dir, voter
from ui_kivy.presenters.app_flow import Screen
from ui_kivy.presenters.rehearsal import BANNER, RUN_MENU
from ui_kivy.rehearsal_service import reports_dir
from ui_kivy.rendered import frame, offscreen_env, until

pytestmark = [pytest.mark.ui, pytest.mark.timeout(90)]
CLOCK = FixedClock(jst(2027, 4, 12, 9, 0))  # days before voting, as a rehearsal is


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def _menu(run: object) -> None:
    flow = run.flow  # type: ignore[attr-defined]
    if flow.screen is not Screen.IDLE:
        flow.back()
    flow.open_supervisor()
    for d in TEST_PIN:
        flow.pin_digit(d)
    assert flow.pin_submit()
    await until(lambda: flow.screen is Screen.MENU)


async def test_kiosk_runs_the_rehearsal_steps_and_goes_back_to_test_mode(tmp_path: Path) -> None:
    from ui_kivy.app import StationRun, prepare_kivy

    tdir = terminal_dir(tmp_path / "T01", [voter("100001")])
    write_pin(tdir, TEST_PIN)
    run = StationRun(tdir.root, clock=CLOCK, clerk="係員A", font=prepare_kivy((1280, 800)))
    run.rehearsal_hq_check_s = 0.5  # no HQ here: the proof says 未確認 (and why) after this long
    failure: list[BaseException] = []

    async def script() -> None:
        await until(lambda: run.screen == "kiosk", 20)
        kiosk = run.root.current
        assert kiosk.test_banner is None and BANNER not in run.root.texts()
        await _menu(run)
        assert RUN_MENU not in run.root.texts()  # only in 試験モード
        run.root.press("試験モード（リハーサル）を開始")
        await until(lambda: run.screen == "kiosk" and run.root.current is not kiosk, 20)
        assert rehearsal.active(tdir)
        assert run.flow.service.config.election_id.endswith(".rehearsal")
        assert BANNER in run.root.texts()  # the opening check of the test station, bannered
        await _menu(run)
        run.root.press(RUN_MENU)
        await until(lambda: run.screen == "rehearsal_run", 40)
        shown = run.root.texts()
        assert "試験手順: 合格（一部スキップ）" in shown, shown
        assert "－ 通信の復帰と本部への送信: スキップ" in shown, shown  # no HQ named
        pdfs = sorted(reports_dir(tdir).glob("rehearsal-report-*.pdf"))
        assert len(pdfs) == 1 and f"報告書（PDF）: {pdfs[0]}" in shown, shown
        run.root.press("試験の受付画面へ")
        await until(lambda: run.screen == "kiosk", 20)
        assert rehearsal.active(tdir) and BANNER in run.root.texts()  # still test mode
        await _menu(run)
        run.root.press("試験モードを終了（ゼロ確認）")
        await until(lambda: run.screen == "zero_proof", 20)
        proofs = sorted(reports_dir(tdir).glob("zero-proof-*.pdf"))
        assert len(proofs) == 1 and f"ゼロ確認書（PDF）: {proofs[0]}" in run.root.texts()
        assert not rehearsal.active(tdir)
        run.root.press("受付画面へ")
        await until(lambda: run.screen == "kiosk", 20)
        await frame()
        assert RUN_MENU not in run.root.texts()

    async def driver() -> None:
        try:
            await script()
        except BaseException as e:
            failure.append(e)
        finally:
            run.app.stop()

    task = asyncio.ensure_future(driver())
    await run.run()
    await task
    if failure:
        raise failure[0]
    with Terminal.open(tdir, CLOCK) as t:
        assert t.head().seq == 0
