"""Old data keeps working after 生年月日 不詳 (issue 19): the package written before it (the
document's test vector, plain dates) still installs into a terminal store, a delta carrying 不詳
rows then installs on top keeping every earlier row, and an HQ roll.db of the earlier schema
(migrations 1–2, no 宛名番号 column) upgrades in place keeping its rows."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from appliance.birthdate import from_canonical
from appliance.lookup import by_voter_id
from appliance.rollinstall import install_package
from appliance.rollpkg import build_package, decode_package, encode_voter, public_key_of
from appliance.store import Store
from ground.birthdate import BirthDate
from hq.roll import HQ_ROLL_MIGRATIONS, open_roll_db
from tests.builders import voter
from tests.builders_roll import make_hq

DOC = Path(__file__).resolve().parents[3] / "docs" / "roll-package.md"
SEED = bytes(range(32))  # the document's key


def _vector() -> bytes:
    block = re.search(r"```hex\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert block is not None
    return bytes.fromhex("".join(block.group(1).split()))


def test_old_package_installs_then_a_delta_with_unknown_dates_keeps_rows(tmp_path: Path) -> None:
    old = _vector()
    manifest, ops = decode_package(old, public_key_of(SEED))
    store = Store(tmp_path / "store.db")
    try:
        install_package(store, old, public_key_of(SEED), manifest.election_id)
        before = store.conn.execute("SELECT * FROM voters ORDER BY voter_id").fetchall()
        assert len(before) == 2 and all(from_canonical(r[5]).known for r in before)
        new = voter("9999999999", birth_date=BirthDate(1945, 3))  # type: ignore[arg-type]
        delta, _ = build_package(election_id=manifest.election_id, version=manifest.version + 1,
                                 base_version=manifest.version, kind="delta", ops=[("+", encode_voter(new))],
                                 created="2027-04-02T09:00:00+09:00", seed=SEED)
        install_package(store, delta, public_key_of(SEED), manifest.election_id)
        after = store.conn.execute("SELECT * FROM voters ORDER BY voter_id").fetchall()
        assert after[:2] == before and after[2][5] == "1945-03-00"
        (found,) = by_voter_id(store.conn, "9999999999").found
        assert found.voter.birth_date == BirthDate(1945, 3) and found.as_dict()["birth_wareki"] == "昭和20年3月不詳"
        for r in before:  # the old rows read exactly as before
            (f,) = by_voter_id(store.conn, r[0]).found
            assert f.voter.birth_date.canonical() == r[5]
    finally:
        store.close()


def test_hq_roll_db_of_the_earlier_schema_upgrades_keeping_rows(tmp_path: Path) -> None:
    hq, _ = make_hq(tmp_path / "hq")
    old = Store(hq.roll_db, migrations=HQ_ROLL_MIGRATIONS[:2])  # as the previous release left it
    try:
        v = voter("0000000001")
        with old.atomic() as c:
            c.execute("INSERT INTO roll VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (v.voter_id, 1, v.name, v.name_kana, "1985-04-01", "M", v.address, "registered",
                       None, None, None, None, None, encode_voter(v)))
    finally:
        old.close()
    with sqlite3.connect(hq.roll_db) as c:
        assert "atena" not in [r[1] for r in c.execute("PRAGMA table_info(roll)")]
    new = open_roll_db(hq)
    try:
        cols = [r[1] for r in new.conn.execute("PRAGMA table_info(roll)")]
        rows = new.conn.execute("SELECT voter_id, birth_date, atena FROM roll").fetchall()
    finally:
        new.close()
    assert "atena" in cols and rows == [("0000000001", "1985-04-01", None)]
