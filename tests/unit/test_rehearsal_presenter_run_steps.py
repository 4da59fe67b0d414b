"""The 試験手順 part of the rehearsal presenter without files: the menu item asks the app for RUN
only in test mode; a report becomes 合格/不合格/スキップ lines; a refused or unwritable run is said."""

from __future__ import annotations

from typing import Any

from ground.errors import MeiboError
from ui_kivy.presenters.rehearsal import RUN, RehearsalPresenter


class Port:
    def __init__(self, active: bool, run: Any) -> None:
        self._active, self._run = active, run

    def active(self) -> bool:
        return self._active

    def start(self) -> dict[str, Any]:
        return {}

    def finish(self) -> dict[str, Any]:
        return {}

    def run(self) -> dict[str, Any]:
        return self._run()


REP = {"verdict": "FAIL", "pdf": "/r/x.pdf", "steps": [
    {"name": "受付", "expected": "交付", "seen": "交付 1 件", "result": "PASS"},
    {"name": "送信", "expected": "届く", "seen": "未実施", "result": "SKIP"},
    {"name": "停止", "expected": "止まる", "seen": "交付", "result": "FAIL"}]}


def test_run_only_in_test_mode_and_lines_say_the_word() -> None:
    asked: list[str] = []
    RehearsalPresenter(Port(False, lambda: REP), asked.append).run_pressed()
    assert asked == []
    p = RehearsalPresenter(Port(True, lambda: REP), asked.append)
    p.run_pressed()
    assert asked == [RUN]
    st = p.run_steps()
    assert st is not None and not st.ok and st.pdf == "/r/x.pdf"
    assert [s.text for s in st.steps] == ["○ 受付: 合格", "－ 送信: スキップ", "× 停止: 不合格"]


def test_refused_or_unwritable_run_is_said() -> None:
    def refuse() -> dict[str, Any]:
        raise MeiboError("試験モードではありません", code="not_in_rehearsal")

    def full() -> dict[str, Any]:
        raise OSError(28, "No space left on device")

    p = RehearsalPresenter(Port(True, refuse))
    assert p.run_steps() is None and p.message == "試験モードではありません"
    p = RehearsalPresenter(Port(True, full))
    assert p.run_steps() is None and "報告書を書けませんでした" in p.message and p.report is None
