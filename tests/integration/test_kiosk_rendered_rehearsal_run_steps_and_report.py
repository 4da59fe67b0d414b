"""Rendered kiosk (real widgets, offscreen) on a real enrolled terminal: in 試験モード the
supervisor menu (behind the PIN) offers 「試験手順を実行」; the steps (appliance.rehearsal.run) run
off the UI thread as the app runs them, the results screen lists every step with 合格 or スキップ
(no HQ here: the sync and double-vote steps are スキップ) and names the report PDF, whose every
page says 試験 (pdftotext); leaving shows the ゼロ確認 and names the ゼロ確認書 PDF."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance import rehearsal
from ground.clock import FixedClock
from tests.builders import TEST_PIN, jst
from tests.integration.sync_env import make_env
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.rehearsal import RUN, RUN_MENU, RehearsalPresenter
from ui_kivy.rehearsal_service import AreaPort, open_kiosk_terminal, reports_dir
from ui_kivy.rendered import drive_app, frame, offscreen_env, run_rendered, until

pytestmark = [pytest.mark.ui, pytest.mark.timeout(90)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


def root_app(make: Any) -> Any:
    """An app showing one root (RunResultRoot, ZeroProofRoot), as StationRun shows it."""
    from kivy.app import App

    from ui_kivy.app import prepare_kivy
    from ui_kivy.fonts import install_default_font

    install_default_font(prepare_kivy((1280, 800)))

    class OneRoot(App):
        def build(self) -> Any:
            return make()

    return OneRoot()


def pdf_pages(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return [p for p in text.split("\f") if p.strip()]


async def test_run_steps_from_the_menu_shows_each_step_and_writes_the_report(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    env.clock = FixedClock(jst(2027, 4, 12, 9, 0))  # before the first day of voting, as rehearsals are
    t1 = env.terminals["T01"]
    asked: list[str] = []
    presenter = RehearsalPresenter(AreaPort(t1, env.clock), asked.append)
    assert presenter.enter() and rehearsal.active(t1)  # what the app does on ENTER
    term, agent, svc = open_kiosk_terminal(t1, env.clock)  # the kiosk on the test area
    flow = KioskFlow(svc, "係員A")
    flow.rehearsal = presenter  # type: ignore[attr-defined]  # as the app wires it

    async def script(root: Any) -> None:
        flow.open_supervisor()
        for d in TEST_PIN:
            flow.pin_digit(d)
        assert flow.pin_submit()
        await until(lambda: flow.screen is Screen.MENU)
        assert RUN_MENU in root.texts()
        root.press(RUN_MENU)
        assert asked == [RUN]

    await run_rendered(flow, script)
    # what the app does on RUN: the kiosk's terminal closed, the steps in a worker thread
    agent.stop()
    term.close()
    rep = await asyncio.to_thread(presenter.run_steps)
    assert rep is not None, presenter.message
    assert rep.verdict == "INCOMPLETE" and {s.result for s in rep.steps} == {"PASS", "SKIP"}, rep

    done: list[bool] = []

    async def shows_steps(view: Any) -> None:
        await frame(3)
        shown = view.texts()
        assert "試験手順: 合格（一部スキップ）" in shown, shown
        for s in rep.steps:
            assert f"{'○' if s.result == 'PASS' else '－'} {s.name}: {'合格' if s.result == 'PASS' else 'スキップ'}" in shown
            assert any(t.startswith("　期待: ") for t in shown) and any(t.startswith("　結果: ") for t in shown)
        assert f"報告書（PDF）: {rep.pdf}" in shown, shown
        done.append(True)
        view.press("試験の受付画面へ")

    def make_result() -> Any:
        from ui_kivy.views.rehearsal import RunResultRoot
        return RunResultRoot(presenter, on_done=lambda: done.append(True))

    await drive_app(root_app(make_result), shows_steps, (1280, 800))
    assert done == [True, True]
    pdf = Path(rep.pdf)
    assert pdf.parent == reports_dir(t1) and pdf.exists()
    pages = pdf_pages(pdf)
    assert pages and all("試験" in p for p in pages), pages
    assert all(s.name.split("（")[0] in "".join(pages) for s in rep.steps)

    proof = presenter.leave()  # what the app does on LEAVE (the test kiosk closed)
    assert proof is not None and proof.ok and proof.pdf and Path(proof.pdf).exists()
    assert Path(proof.pdf).parent == reports_dir(t1) and "ゼロ確認書" in "".join(pdf_pages(Path(proof.pdf)))
    assert not rehearsal.active(t1)

    async def shows_proof(view: Any) -> None:
        await frame(3)
        shown = view.texts()
        assert "ゼロ確認: 確認済（一部未確認）" in shown, shown
        assert f"ゼロ確認書（PDF）: {proof.pdf}" in shown, shown
        done.append(True)
        view.press("受付画面へ")

    def make_proof() -> Any:
        from ui_kivy.views.rehearsal import ZeroProofRoot
        return ZeroProofRoot(presenter, on_done=lambda: done.append(True))

    await drive_app(root_app(make_proof), shows_proof, (1280, 800))
    assert done == [True, True, True, True]
    with env.terminal("T01") as real:  # back to 本番: the real journal is as it was, empty
        assert real.head().seq == 0
