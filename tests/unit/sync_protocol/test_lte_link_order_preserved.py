"""Whatever the chunk pattern and profile, one connection's bytes arrive in order, none lost."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from sync_protocol.lte_link import (PROFILES, Direction, LinkModel, OrderedPipe, Window,
                                    WindowKind)

chunks = st.lists(st.tuples(st.floats(0, 0.5), st.integers(0, 20000)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(chunks, st.sampled_from(sorted(PROFILES)), st.integers(0, 2**32),
       st.sampled_from(list(Direction)), st.floats(1.0, 600.0))
def test_delivery_times_never_go_backwards(pattern: list[tuple[float, int]], name: str, seed: int,
                                           d: Direction, speed: float) -> None:
    m = LinkModel(PROFILES[name], random.Random(seed), speed=speed,
                  schedule=[Window(30.0, 31.0, WindowKind.BLACKOUT)])
    pipe = OrderedPipe(m, d)
    t = 0.0
    prev = 0.0
    for gap, n in pattern:
        t += gap
        at = pipe.schedule(t, n)
        assert at >= t
        assert at >= prev
        prev = at


@settings(max_examples=50, deadline=None)
@given(chunks, st.integers(0, 2**32))
def test_nothing_arrives_inside_a_blackout(pattern: list[tuple[float, int]], seed: int) -> None:
    m = LinkModel(PROFILES["cell-edge"], random.Random(seed),
                  schedule=[Window(1.0, 2.5, WindowKind.BLACKOUT)])
    pipe = OrderedPipe(m, Direction.UP)
    t = 0.5
    for gap, n in pattern:
        t += gap / 10
        at = pipe.schedule(t, n)
        assert not (1.0 <= at < 2.5)
