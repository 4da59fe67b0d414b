"""``meibo kiosk`` (StationRun, rendered offscreen) in and out of 試験モード from the supervisor
menu: the kiosk comes back on the test area with the 試験 banner, leaving shows ゼロ確認 and then
the real kiosk without the banner; the real journal stays empty throughout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance import rehearsal
from appliance.terminal import Terminal, write_pin
from ground.clock import FixedClock
from tests.builders import TEST_PIN, jst, terminal_dir, voter
from ui_kivy.presenters.app_flow import Screen
from ui_kivy.presenters.rehearsal import BANNER
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


async def test_supervisor_menu_enters_and_leaves_test_mode(tmp_path: Path) -> None:
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
        run.root.press("試験モード（リハーサル）を開始")
        await until(lambda: run.screen == "kiosk" and run.root.current is not kiosk, 20)
        assert rehearsal.active(tdir)
        assert run.flow.service.config.election_id.endswith(".rehearsal")
        assert BANNER in run.root.texts()  # the opening check of the test station, bannered
        await _menu(run)
        assert BANNER in run.root.texts()
        run.root.press("試験モードを終了（ゼロ確認）")
        await until(lambda: run.screen == "zero_proof", 20)
        assert "ゼロ確認: 確認済（一部未確認）" in run.root.texts()
        assert any(t.startswith("－ 名簿・選挙の版が本部と一致: 未確認: 本部に接続できません") for t in run.root.texts())
        assert not rehearsal.active(tdir)
        run.root.press("受付画面へ")
        await until(lambda: run.screen == "kiosk", 20)
        await frame()
        assert run.root.current.test_banner is None and BANNER not in run.root.texts()
        assert not run.flow.service.config.election_id.endswith(".rehearsal")

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
