"""A ticket read twice within the window is one voter; misreads never count as reads of a voter."""

from __future__ import annotations

from datetime import datetime, timedelta

from ground.barcode import make_barcode
from ground.model import BarcodeFormat
from hardware.scanner.base import DoubleScan, Misread, OtherElection, VoterScanned
from hardware.scanner.parser import LineSplitter, Line, Overlong, ScanDecoder, ScanInterpreter
from hardware.settings import ScannerSettings, Suffix

FMT = BarcodeFormat(prefix="7")
T = datetime(2027, 4, 25, 9, 0)


def at(s: float) -> datetime:
    return T + timedelta(seconds=s)


def test_window_slides_while_the_ticket_stays_under_the_scanner() -> None:
    i = ScanInterpreter(FMT, window_s=3)
    code = make_barcode("123", FMT)
    assert isinstance(i.interpret(code, at(0)), VoterScanned)
    assert i.interpret(code, at(2.5)) == DoubleScan("123", code, at(2.5), at(0))
    assert isinstance(i.interpret(code, at(5)), DoubleScan)  # 2.5 s after the last re-read
    assert isinstance(i.interpret(code, at(8.1)), VoterScanned)


def test_other_voter_within_window_is_not_a_double_scan() -> None:
    i = ScanInterpreter(FMT, window_s=3)
    assert isinstance(i.interpret(make_barcode("1", FMT), at(0)), VoterScanned)
    assert isinstance(i.interpret(make_barcode("2", FMT), at(1)), VoterScanned)


def test_misread_other_election_and_overlong_are_distinct() -> None:
    i = ScanInterpreter(FMT, window_s=3)
    good = make_barcode("4567", FMT)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    ev = i.interpret(bad, at(0))
    assert isinstance(ev, Misread) and ev.code == "barcode_check_digit"
    ev2 = i.interpret(make_barcode("4567", BarcodeFormat(prefix="8")), at(0))
    assert isinstance(ev2, OtherElection)
    assert isinstance(i.interpret(good, at(0.5)), VoterScanned)  # the misread did not start a window
    d = ScanDecoder(FMT, ScannerSettings(max_line_bytes=10))
    ev3 = d.feed(b"1" * 30 + b"\r", at(0))
    assert len(ev3) == 1 and isinstance(ev3[0], Misread) and ev3[0].code == "barcode_too_long"


def test_splitter_tolerates_a_crlf_scanner_when_cr_is_configured() -> None:
    s = LineSplitter(Suffix.CR)
    assert s.feed(b"123\r\n456\r\n\r\n") == [Line("123"), Line("456")]
    assert LineSplitter(Suffix.TAB, max_line_bytes=4).feed(b"12345678\t1\t") == [Overlong(5), Line("1")]
