"""The AT parser sorts lines into responses and URCs, whatever the modem throws at it."""

from __future__ import annotations

from hardware.modem.base import Registration
from hardware.modem.parser import (AtParser, CmeError, Error, LineTooLong, Ok, Response, Stray, Urc,
                                   parse_cereg_read, parse_cgdcont, parse_cgpaddr, parse_cops, parse_cpin,
                                   parse_csq)


def _run(cmd: str, data: bytes) -> list[object]:
    p = AtParser()
    assert p.send(cmd) == cmd.encode() + b"\r"
    return list(p.feed(data))


def test_echo_and_blank_lines_are_skipped() -> None:
    ev = _run("AT+CSQ", b"AT+CSQ\r\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert ev == [Response("AT+CSQ", ("+CSQ: 20,99",), Ok())]


def test_cme_error_numeric_and_verbose() -> None:
    assert _run("AT+CPIN?", b"\r\n+CME ERROR: 10\r\n") == [Response("AT+CPIN?", (), CmeError(10, "10"))]
    ev = _run("AT+CPIN?", b"\r\n+CME ERROR: SIM not inserted\r\n")
    assert ev == [Response("AT+CPIN?", (), CmeError(10, "SIM not inserted"))]


def test_plain_error() -> None:
    assert _run("AT+FOO", b"\r\nERROR\r\n") == [Response("AT+FOO", (), Error())]


def test_cereg_urc_in_the_middle_of_another_response() -> None:
    ev = _run("AT+COPS?", b'\r\n+COPS: 0,0,"A",7\r\n\r\n+CEREG: 0\r\n\r\nOK\r\n')
    assert ev == [Urc("+CEREG: 0", Registration.NOT_REGISTERED),
                  Response("AT+COPS?", ('+COPS: 0,0,"A",7',), Ok())]


def test_cereg_read_answer_is_not_taken_for_a_urc() -> None:
    ev = _run("AT+CEREG?", b"\r\n+CEREG: 1\r\n\r\n+CEREG: 1,5\r\n\r\nOK\r\n")
    assert ev == [Urc("+CEREG: 1", Registration.HOME), Response("AT+CEREG?", ("+CEREG: 1,5",), Ok())]
    ev = _run("AT+CEREG?", b'\r\n+CEREG: 2,"00C3","0A1B",7\r\n+CEREG: 2,1,"00C3","0A1B",7\r\nOK\r\n')
    assert isinstance(ev[0], Urc) and ev[0].registration is Registration.SEARCHING
    assert isinstance(ev[1], Response) and parse_cereg_read(ev[1].lines) is Registration.HOME


def test_urc_with_nothing_pending_and_stray_lines() -> None:
    p = AtParser()
    assert p.feed(b"\r\n+CEREG: 5\r\nhello\r\nOK\r\n") == [Urc("+CEREG: 5", Registration.ROAMING),
                                                            Stray("hello"), Stray("OK")]


def test_late_ok_after_abandon_is_stray_not_an_answer() -> None:
    p = AtParser()
    p.send("AT+CSQ")
    assert p.feed(b"\r\n+CSQ: 9") == []
    p.abandon()  # the driver timed out; the partial line is dropped too
    assert p.feed(b",99\r\nOK\r\n") == [Stray(",99"), Stray("OK")]
    p.send("AT")
    assert p.feed(b"\r\nOK\r\n") == [Response("AT", (), Ok())]


def test_overlong_line_is_dropped_once() -> None:
    p = AtParser(max_line_bytes=16)
    p.send("AT")
    ev = p.feed(b"X" * 40 + b"\r\nOK\r\n")
    assert ev == [LineTooLong(17), Response("AT", (), Ok())]


def test_information_readers() -> None:
    assert parse_cpin(("+CPIN: SIM PIN",)) == "SIM PIN"
    assert parse_cops(('+COPS: 0,0,"NTT DOCOMO",7',)) == "NTT DOCOMO"
    assert parse_cops(("+COPS: 0",)) is None
    assert parse_csq(("+CSQ: 99,99",)) is None
    assert parse_csq(("+CSQ: 17,99",)) == 17
    assert parse_cgdcont(('+CGDCONT: 1,"IP","closed.lg.jp","0.0.0.0",0,0',)) == "closed.lg.jp"
    assert parse_cgpaddr(('+CGPADDR: 1,"10.0.0.9"',)) == "10.0.0.9"
    assert parse_cereg_read(("+CEREG: 1,3",)) is Registration.DENIED
