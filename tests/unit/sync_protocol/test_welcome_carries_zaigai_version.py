"""WELCOME carries HQ's published 在外選挙人名簿 version as the optional field ``zaigai``: a terminal
reads it, a terminal talking to an older HQ (no field) learns nothing (None, not 0), and a
malformed value is ignored rather than trusted."""

from __future__ import annotations

from typing import Any

from sync_protocol.codec import decode, encode
from sync_protocol.session import FrameType
from hq.session import HqSession
from tests.unit.sync_protocol.pure_harness import MemTerminal, hq_for


def _welcome(zaigai: Any) -> tuple[dict[str, Any], Any]:
    t = MemTerminal("T01", "E01")
    led = hq_for(t)
    sess = HqSession(led, "T01", roll_version=lambda: 4, zaigai_version=zaigai)
    hello = t.link.connect(0, t.hash_at(0) or b"", 0, 4)
    res = sess.receive(decode(encode(hello)))
    (frame,) = res.send
    assert frame.type is FrameType.WELCOME
    return dict(frame.header), t.link.receive(decode(encode(frame)), t.hash_at)


def test_welcome_names_hq_zaigai_version() -> None:
    header, actions = _welcome(lambda: 3)
    assert header["zaigai"] == 3 and header["roll"] == 4
    assert actions.hq_zaigai_version == 3 and actions.hq_roll_version == 4


def test_none_published_is_zero_not_unknown() -> None:
    header, actions = _welcome(lambda: 0)
    assert header["zaigai"] == 0 and actions.hq_zaigai_version == 0


def test_older_hq_or_unreadable_version_sends_no_field() -> None:
    for z in (None, lambda: None):
        header, actions = _welcome(z)
        assert "zaigai" not in header and actions.hq_zaigai_version is None
        assert actions.hq_roll_version == 4  # the rest of WELCOME as before


def test_malformed_field_ignored() -> None:
    for bad in ("3", -1, True, 2.5, [1]):
        t = MemTerminal("T01", "E01")
        led = hq_for(t)
        sess = HqSession(led, "T01")
        res = sess.receive(decode(encode(t.link.connect(0, t.hash_at(0) or b"", 0, 0))))
        (frame,) = res.send
        frame.header["zaigai"] = bad
        actions = t.link.receive(decode(encode(frame)), t.hash_at)
        assert actions.hq_zaigai_version is None, bad
