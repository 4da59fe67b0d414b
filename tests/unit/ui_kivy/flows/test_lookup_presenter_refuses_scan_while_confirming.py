"""The lookup presenter on its own: a scan opens the voter (audit-logged) on the confirm screen; a
second scan there is refused with a notice and never switches the voter; misreads are notices;
the kana search audit-logs every row it shows."""

from __future__ import annotations

from types import SimpleNamespace

from ground.events import EventKind
from tests.unit.ui_kivy.conftest import barcode
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.checkin import CheckinPresenter
from ui_kivy.presenters.flows.lookup import LookupPresenter
from ui_kivy.presenters.flows.router import Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter


def _lookup(service: FakeKioskService) -> tuple[Router, LookupPresenter]:
    router = Router(service, "係員A")
    status = StatusPresenter(router)
    return router, LookupPresenter(router, CheckinPresenter(router, status), status)


def _lookups(service: FakeKioskService) -> list[tuple[str, str]]:
    return [(str(e.data["voter"]), str(e.data["via"])) for e in service.events if e.kind is EventKind.LOOKUP]


def test_second_scan_refused_while_confirming(service: FakeKioskService) -> None:
    router, look = _lookup(service)
    look.on_barcode(barcode("100001"))
    assert router.screen is Screen.CONFIRM and look.checkin.confirm is not None
    assert look.checkin.confirm.voter_id == "100001" and _lookups(service) == [("100001", "scan")]
    look.on_barcode(barcode("100002"))
    assert look.checkin.confirm.voter_id == "100001"  # never switched silently
    assert router.notice is not None and "確認中の方がいます" in router.notice.text
    assert _lookups(service) == [("100001", "scan")]


def test_misreads_and_scanner_events_are_notices(service: FakeKioskService) -> None:
    router, look = _lookup(service)
    bad = barcode("100001")[:-1] + str((int(barcode("100001")[-1]) + 1) % 10)
    look.on_barcode(bad)
    assert router.screen is Screen.IDLE and router.notice is not None and "チェックディジット" in router.notice.text
    look.on_scan_event(SimpleNamespace(kind="double_scan"))
    assert router.notice is not None and router.notice.level == "info"
    look.on_scan_event(SimpleNamespace(kind="disconnected"))
    assert look.status.scanner_connected is False


def test_search_rows_shown_are_audited(service: FakeKioskService) -> None:
    router, look = _lookup(service)
    look.open_search()
    for k in "ヤマダ":
        look.on_kana(k)
    look.show_results()
    assert router.screen is Screen.RESULTS
    assert sorted(v for v, via in _lookups(service) if via == "search") == ["100001", "100002", "100003"]
    look.pick("100002")
    assert router.screen is Screen.CONFIRM and look.checkin.confirm is not None
    assert look.checkin.confirm.voter_id == "100002"


def test_closed_station_opens_no_voter(service: FakeKioskService) -> None:
    service.set_station("close", "管理者")
    router, look = _lookup(service)
    look.on_barcode(barcode("100001"))
    assert router.screen is Screen.IDLE and look.checkin.confirm is None and _lookups(service) == []
