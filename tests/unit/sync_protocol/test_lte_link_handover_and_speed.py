"""Handover blackouts every 1–5 min of 30–500 ms, holding data; ``speed`` compresses schedules only."""

from __future__ import annotations

import random
from datetime import datetime

from sync_protocol.lte_link import (GOOD, HANDOVER, Direction, LinkModel, LinkState, Window,
                                    WindowKind, parse_schedule, schedule_windows)
from ground.clock import JST


def test_handovers_every_1_to_5_minutes_lasting_30_to_500_ms() -> None:
    m = LinkModel(HANDOVER, random.Random(11))
    hs = m.handovers_until(6 * 3600.0)
    assert 6 * 3600 / 300 <= len(hs) <= 6 * 3600 / 60 + 1
    prev_end = 0.0
    for s, e in hs:
        assert 0.030 - 1e-9 <= e - s <= 0.500 + 1e-9
        assert 60 - 1e-6 <= s - prev_end <= 300 + 1e-6
        prev_end = e


def test_a_chunk_sent_in_a_handover_is_held_until_it_ends() -> None:
    m = LinkModel(HANDOVER, random.Random(2))
    s, e = m.handovers_until(400.0)[0]
    assert m.state_at((s + e) / 2) is LinkState.BLACKOUT
    arrival = m.transmit(Direction.UP, (s + e) / 2, 100)
    assert arrival >= e + GOOD.up.one_way_ms[0] / 1000 - GOOD.up.jitter_ms / 1000


def test_chunk_in_flight_when_blackout_starts_arrives_after_it() -> None:
    m = LinkModel(GOOD, random.Random(0), schedule=[Window(1.0, 3.0, WindowKind.BLACKOUT)])
    arrival = m.transmit(Direction.DOWN, 0.99, 10)
    assert arrival >= 3.0


def test_speed_compresses_schedule_but_not_rtt() -> None:
    start = datetime(2027, 4, 25, 9, 59, tzinfo=JST)
    windows = schedule_windows(parse_schedule("10:00-11:30 down"), start)
    assert windows == [Window(60.0, 60.0 + 5400.0, WindowKind.DOWN)]
    m = LinkModel(GOOD, random.Random(4), schedule=windows, speed=600.0)
    assert m.state_at(0.09) is LinkState.UP          # 09:59:54 virtual
    assert m.state_at(0.11) is LinkState.DOWN        # 10:01:06 virtual
    assert m.state_at(9.09) is LinkState.DOWN        # 11:29:54 virtual
    assert m.state_at(9.11) is LinkState.UP          # 11:31:06 virtual
    assert abs(m.down_changes_after(0.0) - 0.1) < 1e-9  # type: ignore[operator]
    assert abs(m.down_changes_after(0.2) - 9.1) < 1e-9  # type: ignore[operator]
    assert m.down_changes_after(9.2) is None
    rtt = m.transmit(Direction.DOWN, m.transmit(Direction.UP, 10.0, 1), 1) - 10.0
    assert 0.040 <= rtt <= 0.080


def test_handovers_compress_with_speed() -> None:
    slow = LinkModel(HANDOVER, random.Random(9)).handovers_until(3600.0)
    fast = LinkModel(HANDOVER, random.Random(9), speed=60.0).handovers_until(60.0)
    assert len(slow) == len(fast)
    assert abs(fast[0][0] * 60 - slow[0][0]) < 1e-6


def test_handover_schedule_does_not_depend_on_traffic() -> None:
    a = LinkModel(HANDOVER, random.Random(21))
    b = LinkModel(HANDOVER, random.Random(21))
    for i in range(500):
        b.transmit(Direction.UP, i * 0.3, 1500)
    assert a.handovers_until(1000.0) == b.handovers_until(1000.0)


def test_set_profile_changes_delay_from_now_on() -> None:
    m = LinkModel(GOOD, random.Random(1))
    assert m.transmit(Direction.UP, 0.0, 1) < 0.05
    from sync_protocol.lte_link import CELL_EDGE
    m.set_profile(CELL_EDGE)
    assert m.transmit(Direction.UP, 1.0, 1) - 1.0 >= 0.065
