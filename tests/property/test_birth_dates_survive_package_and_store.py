"""Any 生年月日 text the register may write — a known date (ISO or 和暦), or one with 不詳 parts
(``1945-00-00``, ``昭和20年不詳``, ``昭和20年3月不詳``, ``不詳``) — survives CSV import → signed
package → terminal store (a real SQLite file) → lookup, with exactly the parts it had: nothing
guessed, nothing lost (issue 19). Malformed canonical text is refused by the package reader."""

import calendar
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.birthdate import parse_birth
from appliance.lookup import by_voter_id
from appliance.rollcsv import parse_roll
from appliance.rollinstall import install_package
from appliance.rollpkg import decode_voter, build_package, encode_voter, public_key_of, row_tuple
from appliance.store import Store
from appliance.wareki import ERAS
from ground.birthdate import BirthDate, parse_canonical
from tests.builders_roll import csv_text, seed_for


@st.composite
def births(draw: st.DrawFn) -> BirthDate:
    kind = draw(st.sampled_from(["day", "month", "year", "none"]))
    if kind == "none":
        return BirthDate(None)
    year = draw(st.integers(1868, 2008))
    if kind == "year":
        return BirthDate(year)
    month = draw(st.integers(1, 12))
    if kind == "month":
        return BirthDate(year, month)
    return BirthDate(year, month, draw(st.integers(1, calendar.monthrange(year, month)[1])))


def _era_text(b: BirthDate) -> str | None:
    """The 和暦 spelling of a 不詳 date, when its first possible day names one era and year."""
    if b.year is None:
        return "不詳"
    first = date(b.year, b.month or 1, 1)
    era = next((e for e in reversed(ERAS) if first >= e.first), None)
    if era is None:
        return None  # before 明治's first day
    last = date(b.year, b.month or 12, calendar.monthrange(b.year, b.month or 12)[1])
    if era.last is not None and last > era.last:
        return None  # that month or year spans two eras
    n = b.year - era.first.year + 1
    return f"{era.name}{n}年{b.month}月不詳" if b.month else f"{era.name}{n}年不詳"


@settings(max_examples=80, deadline=None)
@given(births(), st.booleans())
def test_any_birth_date_round_trips_through_package_and_store(b: BirthDate, era: bool) -> None:
    text = b.canonical()
    if era and not b.known and _era_text(b) is not None:
        text = str(_era_text(b))
    assert parse_birth(text) == b
    data = csv_text([["0000000001", "1", "山田 太郎", "ヤマダ タロウ", text, "男", "横浜市中区1-1"]]).encode("utf-8")
    (v,) = parse_roll(data)
    assert v.birth_date == b
    line = encode_voter(v)
    assert decode_voter(line).birth_date == b
    seed = seed_for("births")
    pkg, _ = build_package(election_id="e1", version=1, base_version=None, kind="full", ops=[("+", line)],
                           created="2027-04-01T09:00:00+09:00", seed=seed)
    with tempfile.TemporaryDirectory() as d:
        s = Store(Path(d) / "store.db")
        try:
            install_package(s, pkg, public_key_of(seed), "e1")
            (stored,) = s.conn.execute("SELECT birth_date FROM voters").fetchone()
            (found,) = by_voter_id(s.conn, "0000000001").found
        finally:
            s.close()
    assert stored == b.canonical() and parse_canonical(stored) == b
    assert found.voter.birth_date == b and found.as_dict()["birth_unknown"] is (not b.known)


@pytest.mark.parametrize("text", ["0000-03-00", "1945-00-12", "0000-00-01", "1945-13-00", "1867-00-00",
                                  "1945-02-30", "1945-3-00"])
def test_malformed_canonical_dates_refused_by_the_package_reader(text: str) -> None:
    line = "\t".join(["0000000001", "1", "山田 太郎", "ヤマダ タロウ", text, "M", "横浜市中区1-1", "registered", "", "", ""])
    with pytest.raises(Exception) as e:
        row_tuple(line)
    assert isinstance(e.value, ValueError) or type(e.value).__name__ == "BadRow"
