from dataclasses import replace

from ground.barcode import luhn_digit
from ground.model import VoterId
from hardware.scanner.base import DoubleScan, Misread, OtherElection, ScannerDisconnected, VoterScanned
from tests.builders import EARLY_NOON
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen

from tests.unit.ui_kivy.conftest import barcode


def _flip_last(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def test_misread_check_digit_stays_idle_with_message(flow: KioskFlow) -> None:
    flow.on_barcode(_flip_last(barcode("100001")))
    assert flow.screen is Screen.IDLE
    assert flow.notice is not None and "読み取り誤り" in flow.notice.text and flow.notice.level == "error"


def test_other_election_barcode_is_refused(service: FakeKioskService) -> None:
    service.config = replace(service.config, barcode=replace(service.config.barcode, prefix="13"))
    flow = KioskFlow(service, "係員A")
    other = "99" + "100001"  # well formed, check digit right, prefix of another election
    flow.on_barcode(other + luhn_digit(other))
    assert flow.screen is Screen.IDLE
    assert flow.notice is not None and "この選挙の入場整理券ではありません" in flow.notice.text
    ok = "13100001"
    flow.on_barcode(ok + luhn_digit(ok))
    assert flow.screen is Screen.CONFIRM


def test_unknown_voter_is_refused(flow: KioskFlow) -> None:
    flow.on_barcode(barcode("999999"))
    assert flow.screen is Screen.IDLE and flow.notice is not None and "名簿にありません" in flow.notice.text


def test_scanner_events_from_the_driver(flow: KioskFlow) -> None:
    at = EARLY_NOON
    flow.on_scan_event(Misread("123", "barcode_check_digit", "x", at))
    assert flow.notice is not None and "読み取り誤り" in flow.notice.text
    flow.on_scan_event(OtherElection("13100001", "x", at))
    assert flow.notice is not None and "この選挙の入場整理券ではありません" in flow.notice.text
    flow.on_scan_event(VoterScanned(VoterId("100001"), barcode("100001"), at))
    assert flow.screen is Screen.CONFIRM
    flow.on_scan_event(DoubleScan(VoterId("100001"), barcode("100001"), at, at))
    assert flow.screen is Screen.CONFIRM and flow.confirm is not None and flow.confirm.name == "山田 太郎"
    assert flow.notice is not None and "二重読み取り" in flow.notice.text and flow.notice.level == "info"
    flow.on_scan_event(ScannerDisconnected(at, "unplugged"))
    assert flow.status.scanner_text == "× スキャナ 未接続"
