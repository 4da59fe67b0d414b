"""Presenter fixtures: a KioskFlow over the in-memory FakeKioskService at an early-voting station."""

from __future__ import annotations

from datetime import date

import pytest

from ground.barcode import make_barcode
from ground.clock import FixedClock
from ground.model import DisplayReason, Status
from tests.builders import EARLY_NOON, election_config, moved_voter, voter
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.result import ResultState

CONFIG = election_config()
VOTERS = [
    voter("100001", name="山田 太郎", name_kana="ヤマダ タロウ", birth_date=date(1985, 4, 1)),
    voter("100002", name="山田 花子", name_kana="ヤマダ ハナコ", birth_date=date(1990, 7, 7)),
    voter("100003", name="山田 次郎", name_kana="ヤマダ ジロウ", birth_date=date(1985, 12, 1)),
    voter("100004", name="佐藤 一郎", name_kana="サトウ イチロウ"),
    voter("100005", name="抹消 者", name_kana="マッショウ シャ", status=Status.DELETED),
    voter("100006", name="失権 者", name_kana="シッケン シャ", status=Status.DISPLAYED,
          display_reason=DisplayReason.LOST_RIGHTS),
    moved_voter("100007", name="転出 県外", name_kana="テンシュツ ケンガイ", within_prefecture=False),
    voter("100008", name="若者 未満", name_kana="ワカモノ ミマン", birth_date=date(2009, 4, 23)),
    voter("100009", name="坂本 五郎", name_kana="サカモト ゴロウ"),
]


def barcode(voter_id: str) -> str:
    return make_barcode(voter_id, CONFIG.barcode)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(EARLY_NOON)


@pytest.fixture
def service(clock: FixedClock) -> FakeKioskService:
    svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), clock)
    svc.set_station("open", "管理者")
    return svc


@pytest.fixture
def flow(service: FakeKioskService) -> KioskFlow:
    return KioskFlow(service, "係員A")


async def check_in(flow: KioskFlow, oath: str = "work") -> ResultState | None:
    """Press 受付 as a poll worker would: at an early station the 宣誓書事由 is chosen first."""
    if flow.screen is Screen.CONFIRM and flow.marks.oath_required and flow.confirm is not None \
            and flow.confirm.can_hand and flow.marks.oath is None:
        flow.choose_oath(oath)
    return await flow.confirm_checkin()


def type_closing(flow: KioskFlow, values: dict[str, tuple[int, int, int]]) -> None:
    """On the 閉鎖 entry screen: tap each cell and type 受領数, 交付数, 残数 on the digit pad."""
    for contest, nums in values.items():
        for i, n in enumerate(nums):
            flow.closing_select(contest, i)
            row = next(r for r in flow.close_entry.rows if r.contest == contest)
            for _ in row.values[i]:
                flow.closing_backspace()
            for d in str(n):
                flow.closing_digit(d)


def close_balanced(flow: KioskFlow) -> bool:
    """閉鎖する with figures that balance: 受領 100, 交付 = 名簿対照数, 残 the rest."""
    type_closing(flow, {r.contest: (100, r.matched, 100 - r.matched) for r in flow.close_entry.rows})
    return flow.submit_closing()
