"""Every parser that reads outside bytes (roll CSV, roll package, protocol frames, journal
exports, APDU responses, AT responses, barcodes, election.toml), fed arbitrary bytes and
mutations of valid inputs: it returns or raises a ``MeiboError`` — no other exception, no hang
(hypothesis deadline). The same targets are the fuzzing entry points (``python -m fuzz TARGET``).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.targets import TARGETS, seeds


def mutations(name: str) -> st.SearchStrategy[bytes]:
    base = seeds(name)

    @st.composite
    def one(draw: st.DrawFn) -> bytes:
        b = bytearray(draw(st.sampled_from(base)))
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(b)))
            op = draw(st.integers(0, 2))
            if op == 0 and b:
                b[min(pos, len(b) - 1)] = draw(st.integers(0, 255))
            elif op == 1:
                b[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            else:
                del b[pos:]
        return bytes(b)

    return one()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_survives_hostile_bytes(name: str) -> None:
    @settings(max_examples=60, deadline=3000, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=2048), mutations(name)))
    def run(data: bytes) -> None:
        TARGETS[name](data)

    run()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_valid_seeds_parse(name: str) -> None:
    for s in seeds(name):
        TARGETS[name](s)


def test_fuzz_entry_point_runs_without_atheris() -> None:
    from fuzz.__main__ import main

    assert main(["frame", "--examples", "30", "--seconds", "5", "--no-atheris", "--memory-mb", "4096"]) == 0
    assert main(["--list"]) == 0
