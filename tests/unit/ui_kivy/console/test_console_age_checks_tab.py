"""The console's 年齢確認 tab (issue 19), without a window: the count on the tab, the summary, 未受付
first then kana order, the underage note; the rows' names through the one display rule."""

from __future__ import annotations

from typing import Any

from hq.roll import AgeCheck
from tests.builders import election_config
from ui_kivy.console.age import age_rows
from ui_kivy.console.presenter import ConsolePresenter, Tab


class _Ref:
    def __init__(self, station: str, hlc: int) -> None:
        self.station, self.hlc = station, hlc


class _Rec:
    def __init__(self, station: str, hlc: int) -> None:
        self.ref = _Ref(station, hlc)


class _Ledger:
    """The two maps ``age_rows`` reads (hq.ledger.Ledger's ``ballots`` and ``checkins``)."""

    def __init__(self) -> None:
        self.ballots: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {}
        self.checkins: dict[tuple[str, int], Any] = {}


def _check(vid: str, name: str, kana: str, code: str = "age_confirm_id") -> AgeCheck:
    return AgeCheck(vid, 1, name, kana, "2009-00-00", "平成21年不詳", code, "…")


def test_rows_tab_and_order() -> None:
    cfg = election_config()
    led = _Ledger()
    contest = cfg.contest_ids[0]
    led.ballots[("100001", contest)] = (("T01", 7),)
    led.checkins[("T01", 7)] = _Rec("E01", 1_800_000_000_000 << 16)
    rows = age_rows([_check("100001", "葛\U000E0102城 一郎", "カツラギ イチロウ"),
                     _check("100002", "\ue000城 花子", "カツラギ ハナコ"),
                     _check("100003", "安部 三郎", "アベ サブロウ", "underage")], led, cfg)
    assert [r.done for r in rows] == [True, False, False]
    assert rows[0].checked_in.startswith("受付済（E01 ") and rows[1].checked_in == "未受付"
    assert rows[1].name == "〓城 花子（カツラギ ハナコ）" and rows[0].name == "葛\U000E0102城 一郎"

    p = ConsolePresenter(backend=None)  # type: ignore[arg-type]
    assert p.age_summary() == "生年月日が不詳で年齢確認が必要な選挙人はいません"
    assert dict(p.tab_labels())[Tab.AGE] == "年齢確認"
    p.age_checks = rows
    assert dict(p.tab_labels())[Tab.AGE] == "年齢確認（3）"
    assert "3 人（受付済 1 人・未受付 2 人）" in p.age_summary()
    lines = p.age_lines()
    assert [n for n, _, _ in lines] == ["安部 三郎", "〓城 花子（カツラギ ハナコ）", "葛\U000E0102城 一郎"]
    assert "（判明部分で18歳未満）" in lines[0][1] and lines[2][2]
