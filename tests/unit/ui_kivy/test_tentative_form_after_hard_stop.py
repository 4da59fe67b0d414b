"""The 投票済 hard stop offers 仮投票: the form preselects the refused contests, records a
``tentative`` entry on the real terminal, and no ballot is handed; panels for opening, closing and
the 不在者投票 warning carry an icon word, not colour alone."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from pathlib import Path

from appliance import procedures as P
from ground.clock import FixedClock
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir
from tests.unit.ui_kivy.conftest import CONFIG, VOTERS, barcode, check_in
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters import procedures as UP
from ui_kivy.presenters.app_flow import KioskFlow
from ui_kivy.service import TerminalService


async def test_hard_stop_to_tentative(flow: KioskFlow, service: FakeKioskService, tmp_path: Path) -> None:
    forms: list[UP.TentativeForm] = []
    UP.install_tentative_action(flow, forms.append)
    flow.on_barcode(barcode("100001"))
    await check_in(flow)
    flow.next_voter()
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None and r.hard_stop and "tentative" in [a.id for a in r.actions]
    calls = service.checkin_calls
    await flow.on_result_action("tentative")
    [form] = forms
    assert form.voter_id == "100001" and form.selected == frozenset(CONFIG.contest_ids)
    assert form.reason == "claims_not_voted" and not form.can_submit  # who decided is still missing
    form = UP.toggle(form, "mayor")
    assert UP.submit(form, service, "係員A", CONFIG).message.startswith("選挙・理由・決定者")
    tdir = terminal_dir(tmp_path / "t", VOTERS, station="E01")
    with Terminal(tdir, FixedClock(EARLY_NOON)) as term:
        done = UP.submit(replace(form, decided_by="投票管理者 鈴木"), TerminalService(term), "係員A", CONFIG)
        assert done.done is not None and done.done.contests == ("shu", "shinsa", "governor")
        assert "仮投票を記録しました" in done.message
        kinds = [k for (k,) in term.store.conn.execute("SELECT kind FROM journal")]
        assert kinds == ["tentative"] and term.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0] == 0
    assert service.checkin_calls == calls  # no check-in, no ballot


def test_panels_and_choices() -> None:
    assert UP.oath_choices()[0] == ("work", "1号 仕事・用務に従事") and len(UP.oath_choices()) == 6
    bad = UP.opening_panel(P.opening_check(P.VersionInfo("e", None, 3), P.VersionInfo("e", None, 4)))
    assert bad.colour == "red" and bad.title.startswith("×") and any("第3版" in x and "第4版" in x for x in bad.lines)
    assert UP.opening_panel(P.opening_check(P.VersionInfo("e", None, 3), None)).title.startswith("！")
    figs = P.ClosingFigures("E01", EARLY_NOON.date(), 1, (P.ContestFigures("shu", "衆", 1, 2),), 0, 0, 0, 0, {})
    assert UP.closing_panel(figs, CONFIG).title.startswith("！ 閉鎖しました")
    assert UP.absentee_banner(None) is None
    # the presenter module itself imports no kivy:
    tree = ast.parse(inspect.getsource(UP))
    names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any("kivy" == (m or "").split(".")[0] for m in mods) and "kivy" not in names
