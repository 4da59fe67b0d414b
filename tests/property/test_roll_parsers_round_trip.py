"""Property tests of the roll data path: kana keys, 和暦, packages, and the CSV parser on any bytes."""

import string
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ground.errors import RollInvalid
from appliance.kana import is_valid_kana, kana_key, normalize_kana
from ground.model import DisplayReason, Sex, Status, Voter, VoterId
from appliance.rollcsv import Limits, _fast_parser, _Problems, _row, COLUMNS, parse_roll
from appliance.rollpkg import build_package, decode_package, decode_voter, encode_voter, public_key_of
from appliance.wareki import WarekiInvalid, parse_date, to_wareki
from tests.builders_roll import HEADER_JA, csv_text, seed_for

KANA = "".join(chr(c) for c in range(0x30A1, 0x30FB)) + "ー"
HIRA = "".join(chr(c) for c in range(0x3041, 0x3097))
HALF = "".join(chr(c) for c in range(0xFF66, 0xFFA0))
kana_text = st.text(alphabet=KANA + HIRA + HALF + " 　0１", max_size=20)
valid_kana = st.lists(st.text(alphabet=KANA, min_size=1, max_size=8), min_size=1, max_size=3).map(" ".join)


@given(kana_text)
def test_kana_key_idempotent(s: str) -> None:
    k = kana_key(s)
    assert kana_key(k) == k
    assert kana_key(normalize_kana(s)) == k
    assert " " not in k and "\u3000" not in k


@given(valid_kana)
def test_valid_display_form_key_is_form_without_spaces(s: str) -> None:
    # rollpkg's install relies on this to skip normalisation of 3.2 million rows
    assert is_valid_kana(s)
    assert normalize_kana(s) == s
    assert kana_key(s) == s.replace(" ", "")


@given(st.text(alphabet=KANA, min_size=1, max_size=10))
def test_hiragana_and_katakana_same_key(s: str) -> None:
    hira = "".join(chr(ord(c) - 0x60) if 0x30A1 <= ord(c) <= 0x30F6 else c for c in s)
    assert kana_key(hira) == kana_key(s)


@given(st.dates(min_value=date(1868, 10, 23), max_value=date(2200, 12, 31)))
def test_wareki_round_trip(d: date) -> None:
    assert parse_date(to_wareki(d)) == d
    assert parse_date(to_wareki(d, short=True)) == d
    assert parse_date(d.isoformat()) == d


@given(st.text(max_size=40))
def test_parse_date_only_wareki_invalid(s: str) -> None:
    try:
        parse_date(s)
    except WarekiInvalid:
        pass


name_text = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\t\n\r"),
                    min_size=1, max_size=20).filter(lambda s: s.strip() == s and s != "")


@st.composite
def voters(draw: st.DrawFn) -> Voter:
    status = draw(st.sampled_from(list(Status)))
    reason = moved_on = within = None
    if status is Status.DISPLAYED:
        reason = draw(st.sampled_from(list(DisplayReason)))
        if reason is DisplayReason.MOVED:
            moved_on = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)))
            within = draw(st.booleans())
    return Voter(VoterId(draw(st.from_regex(r"[0-9]{1,20}", fullmatch=True))), draw(st.integers(0, 9999)),
                 draw(name_text), draw(valid_kana), draw(st.dates(date(1900, 1, 1), date(2009, 1, 1))),
                 draw(st.sampled_from(list(Sex))), draw(name_text), status, reason, moved_on, within)


@given(voters())
def test_canonical_row_round_trip(v: Voter) -> None:
    assert decode_voter(encode_voter(v)) == v


@settings(max_examples=30, deadline=None)
@given(st.lists(voters(), max_size=15, unique_by=lambda v: v.voter_id), st.integers(1, 10**6))
def test_package_round_trip(vs: list[Voter], version: int) -> None:
    seed = seed_for("prop")
    ops = [("+", encode_voter(v)) for v in sorted(vs, key=lambda v: v.voter_id)]
    data, manifest = build_package(election_id="e1", version=version, base_version=None, kind="full", ops=ops,
                                   created="2027-04-01T09:00:00+09:00", seed=seed)
    got_manifest, got_ops = decode_package(data, public_key_of(seed))
    assert got_manifest == manifest and got_ops == ops
    assert [decode_voter(p) for _, p in got_ops] == sorted(vs, key=lambda v: v.voter_id)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_csv_parser_never_crashes_on_bytes(data: bytes) -> None:
    try:
        parse_roll(data)
    except RollInvalid as e:
        assert e.problems or e.code != "roll_invalid"


cell = st.text(alphabet=string.digits + "ｱア山 -/.\t\"," + KANA[:5] + "男女MF登録抹消表示転出県内外", max_size=12)


@settings(max_examples=200)
@given(st.lists(st.lists(cell, min_size=11, max_size=11), min_size=1, max_size=5))
def test_csv_parser_never_crashes_on_japanese_like_rows(rows: list[list[str]]) -> None:
    text = csv_text([[c.replace('"', '""').join('""') if ("," in c or '"' in c or "\t" in c) else c for c in r]
                     for r in rows])
    for enc in ("utf-8", "cp932"):
        try:
            raw = text.encode(enc)
        except UnicodeEncodeError:
            continue
        try:
            parse_roll(raw)
        except RollInvalid:
            pass


plausible_row = st.tuples(
    st.sampled_from(["0000000001", "12", " 1", "１２", "x", "", "1" * 21]),
    st.sampled_from(["1", "0", "12345", "第3投票区", "", " 2"]),
    st.sampled_from(["佐藤 太郎", "", " 山田", "髙橋"]),
    st.sampled_from(["サトウ タロウ", "さとう", "ｻﾄｳ", "サトウ  タロウ", "山田", "", "ABC"]),
    st.sampled_from(["1985-04-01", "2009-04-26", "2009-04-27", "1867-12-31", "1985-02-30", "S60.4.1", "", "19850401"]),
    st.sampled_from(["男", "女", "1", "2", "M", "F", "m", "X", ""]),
    st.sampled_from(["横浜市", "", " 横浜市"]),
    st.sampled_from(["", "登録", "抹消", "表示", "registered", "?"]),
    st.sampled_from(["", "", "", "転出", "失権"]),
    st.sampled_from(["", "", "2027-03-01"]),
    st.sampled_from(["", "", "県内"]),
).map(list)


@settings(max_examples=300)
@given(plausible_row, st.sampled_from([None, date(2027, 4, 25)]))
def test_fast_path_agrees_with_full_check(fields: list[str], day: date | None) -> None:
    index = {f: i for i, f in enumerate(["voter_id", "district", "name", "name_kana", "birth_date", "sex",
                                        "address", "status", "display_reason", "moved_on", "moved_to"])}
    shown = {f: COLUMNS[f][0] for f in index}
    fast = _fast_parser(index, Limits(), day)
    got = fast(fields)
    if got is not None:
        probs = _Problems("x", 100)
        assert _row(fields, index, shown, 2, Limits(), probs, day) == got and not probs


@given(st.from_regex(r"[0-9]{1,20}", fullmatch=True), st.from_regex(r"[0-9]{0,4}", fullmatch=True))
def test_barcode_round_trip(voter_id: str, prefix: str) -> None:
    from ground.barcode import make_barcode, parse_barcode
    from ground.model import BarcodeFormat
    fmt = BarcodeFormat(prefix=prefix)
    assert parse_barcode(make_barcode(voter_id, fmt), fmt) == voter_id


@given(st.text(max_size=60))
def test_barcode_parser_only_barcode_invalid(text: str) -> None:
    from ground.barcode import parse_barcode
    from ground.errors import BarcodeInvalid
    from ground.model import BarcodeFormat
    try:
        parse_barcode(text, BarcodeFormat(prefix="14"))
    except BarcodeInvalid:
        pass
