"""Kiosk search narrowed by era and year (生年で絞り込み) never hides a voter whose 生年月日 is partly
不詳 (slice 12): a known year with the month or day unknown matches its year; an unknown year
matches any narrowing and the row says 生年月日 不詳. The full-date narrowing keeps both too. Run on
the fake service and on the real TerminalService over a real store: they must agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store import Store
from appliance.terminal import Terminal
from ground.birthdate import BirthDate
from ground.clock import FixedClock
from tests.builders import EARLY_NOON, terminal_dir, voter
from tests.unit.ui_kivy.conftest import CONFIG
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.search import UNSURE_MARK
from ui_kivy.service import TerminalService

VOTERS = [
    voter("300001", name="森 一郎", name_kana="モリ イチロウ", birth_date=BirthDate(1985, 4, 1)),
    voter("300002", name="森 二郎", name_kana="モリ ジロウ", birth_date=BirthDate(1985)),  # 昭和60年不詳
    voter("300003", name="森 三郎", name_kana="モリ サブロウ", birth_date=BirthDate(1985, 4)),  # 昭和60年4月不詳
    voter("300004", name="森 四郎", name_kana="モリ シロウ", birth_date=BirthDate(None)),  # 不詳
    voter("300005", name="森 五郎", name_kana="モリ ゴロウ", birth_date=BirthDate(1990, 1, 2)),
    voter("300006", name="森 六郎", name_kana="モリ ロクロウ", birth_date=BirthDate(1986)),
]


@pytest.fixture(params=["fake", "real"])
def flow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KioskFlow]:
    clock = FixedClock(EARLY_NOON)
    if request.param == "fake":
        svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), clock, online=False)
        svc.set_station("open", "管理者")
        yield KioskFlow(svc, "係員A")
        return
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    store = Store(tdir.store_path)
    with store.atomic() as c:
        store.set_meta(c, "roll_version", "1")
    store.close()
    term = Terminal.open(tdir, clock)
    real = TerminalService(term)
    real.set_station("open", "管理者")
    yield KioskFlow(real, "係員A")
    term.close()


def narrow(flow: KioskFlow, era: str, digits: str) -> dict[str, str]:
    flow.open_search()
    for k in "モリ":
        flow.on_kana(k)
    flow.show_results()
    flow.open_birth()
    flow.birth_era(era)
    for d in digits:
        flow.birth_digit(d)
    flow.birth_apply()
    assert flow.screen is Screen.RESULTS, flow.search.state.message
    assert flow.search.state.birth_filter.startswith(("生年 ", "生年月日 "))
    rows = {r.name: r.birth for r in flow.search.state.rows}
    flow.back()
    flow.back()
    return rows


def test_year_narrowing_keeps_a_known_year_and_marks_an_unknown_one(flow: KioskFlow) -> None:
    rows = narrow(flow, "昭和", "60")
    assert set(rows) == {"森 一郎", "森 二郎", "森 三郎", "森 四郎"}
    assert rows["森 四郎"].startswith(UNSURE_MARK)
    assert rows["森 二郎"].startswith("昭和60年不詳") and rows["森 三郎"].startswith("昭和60年4月不詳")
    assert not rows["森 一郎"].startswith(UNSURE_MARK)


def test_year_narrowing_leaves_out_other_years_but_not_the_unknown(flow: KioskFlow) -> None:
    assert set(narrow(flow, "平成", "02")) == {"森 五郎", "森 四郎"}
    assert set(narrow(flow, "昭和", "61")) == {"森 六郎", "森 四郎"}


def test_full_date_narrowing_keeps_the_dates_it_could_be(flow: KioskFlow) -> None:
    rows = narrow(flow, "昭和", "600401")
    assert set(rows) == {"森 一郎", "森 二郎", "森 三郎", "森 四郎"}
    assert set(narrow(flow, "昭和", "600501")) == {"森 二郎", "森 四郎"}
