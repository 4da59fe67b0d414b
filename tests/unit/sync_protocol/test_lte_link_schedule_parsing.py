"""Scripted schedules such as "10:00-11:30 down" parse, round-trip and reject bad input in Japanese."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from hypothesis import given, strategies as st

from ground.clock import JST
from sync_protocol.lte_link import (LinkConfigInvalid, ScheduleEntry, WindowKind, parse_schedule,
                                    schedule_windows)


def test_parses_several_entries() -> None:
    es = parse_schedule("10:00-11:30 down; 14:00:05-14:00:30 blackout")
    assert es == [ScheduleEntry(time(10), time(11, 30), WindowKind.DOWN),
                  ScheduleEntry(time(14, 0, 5), time(14, 0, 30), WindowKind.BLACKOUT)]


@pytest.mark.parametrize("text,code", [
    ("", "schedule_empty"), ("10:00-11:30", "schedule_syntax"), ("10:00-11:30 up", "schedule_syntax"),
    ("24:00-25:00 down", "schedule_time"), ("11:30-10:00 down", "schedule_order"),
    ("10:00-10:00 down", "schedule_order"), ("10:60-11:00 down", "schedule_time"),
])
def test_bad_entries_are_named_with_their_position(text: str, code: str) -> None:
    with pytest.raises(LinkConfigInvalid) as e:
        parse_schedule("09:00-09:01 down;" + text if text else text)
    assert e.value.code == "schedule_invalid"
    assert [p.code for p in e.value.problems] == [code]
    assert e.value.problems[0].row == (2 if text else 1)
    assert e.value.problems[0].file == "--schedule"


times = st.times().map(lambda t: t.replace(microsecond=0))


@given(times, times, st.sampled_from(list(WindowKind)))
def test_round_trip(a: time, b: time, kind: WindowKind) -> None:
    if a == b:
        return
    start, end = min(a, b), max(a, b)
    e = ScheduleEntry(start, end, kind)
    assert parse_schedule(e.text()) == [e]


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_schedule_invalid(text: str) -> None:
    try:
        entries = parse_schedule(text)
    except LinkConfigInvalid as e:
        assert e.problems and all(p.message for p in e.problems)
    else:
        assert all(en.end > en.start for en in entries)


def test_window_placed_against_start_of_link() -> None:
    es = parse_schedule("10:00-11:30 down")
    inside = schedule_windows(es, datetime(2027, 4, 25, 10, 30, tzinfo=JST))
    assert [(w.start_s, w.end_s) for w in inside] == [(0.0, 3600.0)]
    after = schedule_windows(es, datetime(2027, 4, 25, 12, 0, tzinfo=JST))
    assert [(w.start_s, w.end_s) for w in after] == [(22 * 3600.0, 23.5 * 3600.0)]
