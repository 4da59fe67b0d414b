"""Each named LTE profile produces the delays, rates and tails the issue asks for."""

from __future__ import annotations

import random
import statistics

import pytest

from sync_protocol.lte_link import (CELL_EDGE, GOOD, HANDOVER, PROFILES, Direction,
                                    LinkConfigInvalid, LinkModel, outage_profile, profile_named)


def _rtts(profile_name: str, n: int, seed: int = 7) -> list[float]:
    """RTT of a tiny ping every 0.5 s (spaced so rate and ordering do not interfere)."""
    m = LinkModel(profile_named(profile_name), random.Random(seed))
    out = []
    for i in range(n):
        t = i * 0.5
        there = m.transmit(Direction.UP, t, 10)
        back = m.transmit(Direction.DOWN, there, 10)
        out.append((back - t) * 1000)
    return out


def test_good_rtt_is_50_to_70_ms_with_10_ms_jitter() -> None:
    r = _rtts("good", 2000)
    assert min(r) >= 40 - 0.1 and max(r) <= 80 + 0.1
    assert 55 <= statistics.median(r) <= 65
    assert GOOD.rtt_range_ms() == (40.0, 80.0)


def test_cell_edge_rtt_is_150_to_300_ms_with_heavy_tail() -> None:
    r = sorted(_rtts("cell-edge", 4000))
    assert r[0] >= 130
    assert 180 <= statistics.median(r) <= 270
    # heavy tail: a visible share beyond 300 ms and some beyond 500 ms
    beyond = sum(x > 320 for x in r) / len(r)
    assert 0.03 <= beyond <= 0.4
    assert r[-1] > 500


def test_rates_serialise_bulk_data() -> None:
    m = LinkModel(GOOD, random.Random(1))
    last = 0.0
    for _ in range(250):  # 250 × 4 kB = 1 MB = 8 Mbit
        last = m.transmit(Direction.UP, 0.0, 4000)
    assert 1.6 <= last <= 1.6 + 0.05  # 5 Mbit/s up
    m2 = LinkModel(GOOD, random.Random(1))
    for _ in range(250):
        last = m2.transmit(Direction.DOWN, 0.0, 4000)
    assert 0.8 <= last <= 0.85  # 10 Mbit/s down
    m3 = LinkModel(CELL_EDGE, random.Random(1))
    for _ in range(25):  # 100 kB = 0.8 Mbit at 1 Mbit/s
        last = m3.transmit(Direction.UP, 0.0, 4000)
    assert last >= 0.8


def test_cell_edge_loss_bursts_delay_chunks_but_never_drop_them() -> None:
    m = LinkModel(CELL_EDGE, random.Random(3))
    base_max = CELL_EDGE.up.one_way_ms[1] + CELL_EDGE.up.jitter_ms
    late = 0
    for i in range(6000):  # 10 minutes of one small chunk every 100 ms
        t = i * 0.1
        d = (m.transmit(Direction.UP, t, 1) - t) * 1000
        assert d > 0
        late += d > base_max + 1
    assert late > 30


def test_same_seed_same_delays_and_different_seed_differs() -> None:
    assert _rtts("cell-edge", 200, seed=5) == _rtts("cell-edge", 200, seed=5)
    assert _rtts("cell-edge", 200, seed=5) != _rtts("cell-edge", 200, seed=6)


def test_handover_profile_keeps_good_rtt_between_blackouts() -> None:
    assert HANDOVER.rtt_range_ms() == GOOD.rtt_range_ms()
    assert HANDOVER.handovers is not None


def test_outage_profile_is_down_for_the_configured_time() -> None:
    p = outage_profile(after_s=10, for_s=30)
    m = LinkModel(p, random.Random(0))
    assert m.state_at(9.9).value == "up"
    assert m.state_at(10.1).value == "down"
    assert m.state_at(39.9).value == "down"
    assert m.state_at(40.1).value == "up"
    with pytest.raises(LinkConfigInvalid):
        outage_profile(after_s=0, for_s=0)


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(LinkConfigInvalid) as e:
        profile_named("5g")
    assert e.value.code == "unknown_profile"
    for name in ("good", "cell-edge", "handover", "outage"):
        assert name in e.value.message
        assert name in PROFILES
