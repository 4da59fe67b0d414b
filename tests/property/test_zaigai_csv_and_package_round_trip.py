"""Property tests of the 在外選挙人名簿 data path: the CSV parser on any bytes (a list or one clear
``RollInvalid`` naming rows and columns, never another exception), any valid roll through CSV,
canonical row and signed package back to itself, and a CSV split or cut anywhere."""

from __future__ import annotations

import csv
import io
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ground.errors import RollInvalid
from appliance.rollpkg import public_key_of
from appliance.zaigaipkg import (ZAIGAI_COLUMNS, ZaigaiVoter, build_zaigai_package, decode_zaigai, encode_zaigai,
                                 open_zaigai_package, parse_zaigai_csv)
from tests.builders_roll import seed_for

SEED = seed_for("zaigai-property")
HEAD = ",".join(h for _, h in ZAIGAI_COLUMNS)
# Text as a person writes it: any printable character, no surrounding space (the parser strips it).
text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"),
               min_size=1, max_size=40).map(str.strip).filter(bool)


@st.composite
def rolls(draw: st.DrawFn) -> list[ZaigaiVoter]:
    ids = draw(st.lists(st.integers(1, 10**15), unique=True, max_size=8))
    cards = draw(st.lists(st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=4, max_size=20),
                          unique=True, min_size=len(ids), max_size=len(ids)))
    return [ZaigaiVoter(str(i), c, draw(text), draw(text), draw(st.dates(date(1900, 1, 1), date(2009, 12, 31))),
                        draw(st.sampled_from("MF")), draw(text), draw(text),
                        draw(st.sampled_from(["registered", "deleted"]))) for i, c in zip(ids, cards)]


def to_csv(voters: list[ZaigaiVoter]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEAD.split(","))
    for v in voters:
        w.writerow([v.zaigai_id, v.card_no, v.name, v.kana, v.birth_date.isoformat(), "男" if v.sex == "M" else "女",
                    v.last_address, v.country, "登録" if v.status == "registered" else "抹消"])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


@settings(max_examples=150)
@given(st.binary(max_size=300))
def test_any_bytes_give_rows_or_one_clear_error(raw: bytes) -> None:
    try:
        out = parse_zaigai_csv(HEAD.encode() + b"\n" + raw, "z.csv")
    except RollInvalid as e:
        assert e.code.startswith("zaigai_") and "z.csv" in e.message
        assert all(p.file == "z.csv" for p in e.problems)
        return
    for v in out:  # whatever it accepts has a canonical row
        assert decode_zaigai(encode_zaigai(v)) == v


@settings(max_examples=150)
@given(st.text(max_size=200))
def test_any_text_rows_give_rows_or_errors_naming_row_and_column(body: str) -> None:
    try:
        parse_zaigai_csv((HEAD + "\n" + body).encode("utf-8"), "z.csv")
    except RollInvalid as e:
        assert e.problems and all(p.row is None or p.row >= 2 for p in e.problems)
        assert all(p.column is None or p.column in {h for _, h in ZAIGAI_COLUMNS} for p in e.problems)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(rolls(), st.lists(st.sampled_from(["C01", "D01", "D02"]), unique=True))
def test_csv_to_signed_package_and_back(voters: list[ZaigaiVoter], designated: list[str]) -> None:
    parsed = parse_zaigai_csv(to_csv(voters), "z.csv")
    assert parsed == voters
    data, m = build_zaigai_package(election_id="e", version=3, voters=parsed, designated=designated,
                                   created="2027-04-01T09:00:00+09:00", seed=SEED)
    pkg = open_zaigai_package(data, public_key_of(SEED))
    assert list(pkg.voters) == sorted(voters, key=lambda v: v.zaigai_id)
    assert pkg.designated == tuple(sorted(designated)) and pkg.version == 3 == m.version


@settings(max_examples=60)
@given(rolls(), st.data())
def test_a_cut_file_is_a_prefix_or_refused(voters: list[ZaigaiVoter], data: st.DataObject) -> None:
    raw = to_csv(voters)
    cut = data.draw(st.integers(0, len(raw)))
    try:
        got = parse_zaigai_csv(raw[:cut], "z.csv")
    except RollInvalid:
        return
    # a cut on a row boundary keeps whole rows; a cut inside a row never yields a row that was not written
    assert len(got) <= len(voters)
    assert all(g == v or g.zaigai_id == v.zaigai_id for g, v in zip(got, voters))
