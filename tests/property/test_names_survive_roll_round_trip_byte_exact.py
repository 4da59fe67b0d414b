"""Names exactly as registered (issue 19): any 氏名 — with IVS (base + U+E0100…E01EF), private-use
外字, astral characters — survives CSV import → signed package → terminal store (a real SQLite
file) → read back, byte for byte. Nothing on the way NFC/NFKC-normalises it."""

import tempfile
import unicodedata
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.rollcsv import parse_roll
from appliance.rollinstall import install_package
from appliance.rollpkg import build_package, encode_voter, public_key_of
from appliance.store import Store
from tests.builders_roll import csv_text, seed_for

IVS = st.integers(0xE0100, 0xE01EF).map(chr)
PUA = st.integers(0xE000, 0xF8FF).map(chr)
ASTRAL = st.characters(min_codepoint=0x20000, max_codepoint=0x3134F, exclude_categories=("Cs", "Cn"))
BASE = st.sampled_from("辻葛邊邉髙﨑渡山田花子一郎ｱ①Ⅲ")  # includes characters NFKC would change
ANY = st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters='",\u2028\u2029\x85')
part = st.one_of(st.tuples(BASE, IVS).map("".join), PUA, ASTRAL, BASE, ANY)
name = st.lists(part, min_size=1, max_size=8).map("".join).filter(lambda s: s == s.strip() and s != "")


@settings(max_examples=60, deadline=None)
@given(name)
def test_any_name_survives_import_package_store_byte_exact(n: str) -> None:
    raw = n.encode("utf-8")
    data = csv_text([["0000000001", "1", n, "ヤマダ タロウ", "1985-04-01", "男", "横浜市中区1-1"]]).encode("utf-8")
    (v,) = parse_roll(data)
    assert v.name.encode("utf-8") == raw
    seed = seed_for("names")
    pkg, _ = build_package(election_id="e1", version=1, base_version=None, kind="full",
                           ops=[("+", encode_voter(v))], created="2027-04-01T09:00:00+09:00", seed=seed)
    with tempfile.TemporaryDirectory() as d:
        s = Store(Path(d) / "store.db")
        try:
            install_package(s, pkg, public_key_of(seed), "e1")
            (stored,) = s.conn.execute("SELECT name FROM voters WHERE voter_id = '0000000001'").fetchone()
        finally:
            s.close()
    assert stored.encode("utf-8") == raw
    if unicodedata.normalize("NFKC", n) != n:  # the cases that would show a normalising step
        assert stored != unicodedata.normalize("NFKC", n)
