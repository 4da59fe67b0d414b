import pytest

from ground.clock import FixedClock
from tests.builders import jst
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow
from ui_kivy.presenters.result import ResultKind

from tests.unit.ui_kivy.conftest import CONFIG, VOTERS, barcode, check_in
from tests.builders import voter


async def test_offline_is_amber_and_still_lists_ballots(flow: KioskFlow, service: FakeKioskService) -> None:
    service.online = False
    flow.on_barcode(barcode("100004"))
    r = await check_in(flow)
    assert r is not None and r.kind is ResultKind.OFFLINE
    assert r.colour == "amber" and r.title == "！ オフライン受付"
    assert "オフライン時の手順" in r.subtitle and len(r.hand) == 4
    assert [e.kind.value for e in service.events][-1] == "provisional"


@pytest.mark.parametrize("vid, station, at, code_text", [
    ("100005", "E01", jst(2027, 4, 20, 12), "抹消"),
    ("100006", "E01", jst(2027, 4, 20, 12), "失権"),
    ("100008", "E01", jst(2027, 4, 20, 12), "18歳に達していません"),
    ("100001", "E01", jst(2027, 4, 20, 21), "受付時間外"),
    ("100001", "C01", jst(2027, 4, 20, 12), "選挙期日"),
    ("200001", "D01", jst(2027, 4, 25, 12), "第1投票区の方のみ"),
])
async def test_ineligible_is_red_with_the_reason(vid: str, station: str, at: object, code_text: str) -> None:
    voters = VOTERS + [voter("200001", district=2, name="別区 者", name_kana="ベック シャ")]
    svc = FakeKioskService(CONFIG, CONFIG.station(station), voters, FixedClock(at))  # type: ignore[arg-type]
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    flow.on_barcode(barcode(vid))
    r = await check_in(flow)
    assert r is not None and r.kind is ResultKind.INELIGIBLE
    assert r.colour == "red" and r.title == "× 対象外 — 交付しない" and r.hand == ()
    assert code_text in r.withhold[0].reason
    assert [e.kind.value for e in svc.events].count("checkin") == 0


async def test_mixed_moved_out_of_prefecture(flow: KioskFlow) -> None:
    flow.on_barcode(barcode("100007"))
    r = await check_in(flow)
    assert r is not None and r.kind is ResultKind.MIXED and r.colour == "amber"
    assert [h.text for h in r.hand] == ["1. 衆議院小選挙区選出議員選挙", "2. 最高裁判所裁判官国民審査"]
    assert [w.text for w in r.withhold] == ["× 神奈川県知事選挙", "× 横浜市長選挙"]
    assert "○ 交付する 2 枚と × 交付しない 2 枚" in r.subtitle


async def test_mixed_outside_period_for_one_contest() -> None:
    svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), FixedClock(jst(2027, 4, 15, 10)))
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None and r.kind is ResultKind.MIXED
    assert [w.name for w in r.withhold] == ["最高裁判所裁判官国民審査"]
    assert "04月18日 から" in r.withhold[0].reason


async def test_closed_station_refuses_scans(service: FakeKioskService) -> None:
    service.set_station("close", "管理者")
    flow = KioskFlow(service, "係員A")
    assert not flow.idle.station_open and "閉鎖" in flow.idle.closed_text
    flow.on_barcode(barcode("100001"))
    assert flow.notice is not None and "開設されていません" in flow.notice.text
