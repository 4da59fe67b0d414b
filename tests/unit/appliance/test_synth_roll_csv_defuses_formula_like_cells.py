"""`meibo synth-roll` writes through the one CSV writer (appliance/csvsafe.py): were a generated
cell ever to start like a formula it would be defused; the realistic roll is unchanged by it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from appliance import synth
from appliance.synth import SynthSettings, write_roll


def test_synth_roll_defuses_a_formula_like_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def hostile_rows(_s: SynthSettings) -> Iterator[list[str]]:
        yield ["0000000001", "1", "=HYPERLINK(\"http://evil.example/\")", "ヤマダ タロウ", "1990-01-01", "男",
               "-横浜市", "", "", "", ""]
    monkeypatch.setattr(synth, "rows", hostile_rows)
    buf = io.StringIO()
    assert write_roll(SynthSettings(voters=1, seed=1), buf) == 1
    [_, row] = list(csv.reader(io.StringIO(buf.getvalue())))
    assert row[2] == "'=HYPERLINK(\"http://evil.example/\")" and row[6] == "'-横浜市" and row[0] == "0000000001"


def test_realistic_synth_roll_has_no_defused_cell() -> None:
    buf = io.StringIO()
    write_roll(SynthSettings(voters=2000, seed=3), buf)
    assert not any(c.startswith("'") for r in csv.reader(io.StringIO(buf.getvalue())) for c in r)
