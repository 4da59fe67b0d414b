"""appliance/csvsafe.py: defusing twice is defusing once, benign text and meibo's own numbers are
written unchanged, and no written text cell starts with a formula trigger (= + - @ tab CR)."""

from __future__ import annotations

import csv
import io

from hypothesis import given, strategies as st

from appliance.csvsafe import TRIGGERS, cell, defuse, excel_csv

benign = st.text().filter(lambda s: not s.startswith(TRIGGERS))
hostile = st.builds(lambda t, rest: t + rest, st.sampled_from(TRIGGERS), st.text())


@given(st.text())
def test_defuse_is_idempotent_and_never_leaves_a_trigger(s: str) -> None:
    once = defuse(s)
    assert defuse(once) == once
    assert not once.startswith(TRIGGERS)
    assert once in (s, "'" + s)  # the value stays readable: at most one quote in front


@given(benign)
def test_benign_text_is_unchanged(s: str) -> None:
    assert defuse(s) == s == cell(s)


@given(hostile)
def test_formula_like_text_gets_one_quote(s: str) -> None:
    assert cell(s) == "'" + s


@given(st.integers() | st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_meibo_computes_stay_numbers(n: int | float) -> None:
    assert cell(n) == str(n) and type(n)(cell(n)) == n


@given(st.lists(st.lists(st.text() | st.integers() | st.none(), min_size=2, max_size=2), max_size=5))
def test_excel_csv_round_trips_every_cell_defused(rows: list[list[str | int | None]]) -> None:
    back = list(csv.reader(io.StringIO(excel_csv(("a", "b"), rows).decode("utf-8-sig"), newline="")))
    assert back[0] == ["a", "b"]
    assert back[1:] == [[cell(v) for v in r] for r in rows]


def test_bool_and_strings_that_look_numeric_are_text() -> None:
    assert cell(-1) == "-1" and cell("-1") == "'-1" and cell(None) == "" and cell(True) == "True"
    assert cell(float("-inf")) == "'-inf"
