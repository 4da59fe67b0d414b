"""Terminal lookup: barcode (check digit refused, other election refused), voter id, kana prefix
across scripts with an optional birth filter, status and 投票済 marks, at most 50 rows."""

from datetime import date
from pathlib import Path

import pytest

from ground.barcode import BarcodeCheckDigit, BarcodeOtherElection, make_barcode
from hq.roll import import_roll, publish
from appliance.lookup import MAX_RESULTS, RollNotInstalled, by_barcode, by_kana, by_voter_id
from ground.model import BarcodeFormat, Status
from appliance.rollinstall import install_package
from appliance.store import Store
from tests.builders_roll import BASE_ROWS, NOW, make_pair, write_csv

FMT = BarcodeFormat(prefix="14")


@pytest.fixture()
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    rows = [list(r) for r in BASE_ROWS]
    # 60 サトウ voters with spread birth dates, to test ordering and the cap
    for i in range(60):
        rows.append([f"00000001{i:02d}", "1", f"佐藤 {i}", "サトウ ハナコ" if i % 2 else "サトウ タロウ",
                     f"{1950 + i}-01-01", "女", "横浜市"])
    import_roll(pair.hq, write_csv(tmp_path / "roll.csv", rows), NOW)
    publish(pair.hq, tmp_path / "r.mbr", NOW)
    s = Store(pair.terminal.store_path)
    install_package(s, (tmp_path / "r.mbr").read_bytes(), pair.hq.roll_pub.read_bytes(), "yokohama-2027")
    yield s
    s.close()


def test_barcode_finds_voter(store: Store) -> None:
    res = by_barcode(store.conn, make_barcode("0000000004", FMT), FMT)
    assert [f.voter.voter_id for f in res.found] == ["0000000004"]
    assert res.found[0].as_dict()["status_ja"] == "表示（転出・県内 2027-03-01）"


def test_misread_check_digit_not_looked_up(store: Store) -> None:
    code = make_barcode("0000000004", FMT)
    bad = code[:-1] + str((int(code[-1]) + 1) % 10)
    with pytest.raises(BarcodeCheckDigit):
        by_barcode(store.conn, bad, FMT)
    with pytest.raises(BarcodeOtherElection):
        by_barcode(store.conn, make_barcode("0000000004", BarcodeFormat(prefix="99")), FMT)


def test_voter_id_and_unknown(store: Store) -> None:
    assert by_voter_id(store.conn, "0000000003").found[0].voter.status is Status.DELETED
    assert by_voter_id(store.conn, "9999999999").found == ()


@pytest.mark.parametrize("q", ["たかはし", "ﾀｶﾊｼ ﾊ", "タカハシハナコ", "タカハシ　ハナ", "たか"])
def test_kana_across_scripts(store: Store, q: str) -> None:
    assert [f.voter.voter_id for f in by_kana(store.conn, q).found] == ["0000000002"]


def test_kana_ordered_by_kana_then_birth_and_capped(store: Store) -> None:
    res = by_kana(store.conn, "さとう")
    assert len(res.found) == MAX_RESULTS and res.truncated
    keys = [(f.voter.name_kana.replace(" ", ""), f.voter.birth_date) for f in res.found]
    assert keys == sorted(keys)
    assert res.found[0].voter.name_kana == "サトウ タロウ" and res.found[0].voter.birth_date.as_date() == date(1950, 1, 1)


def test_birth_filter(store: Store) -> None:
    res = by_kana(store.conn, "サトウハ", date(1951, 1, 1))
    assert [f.voter.name for f in res.found] == ["佐藤 1"] and not res.truncated


def test_voted_marks_shown(store: Store) -> None:
    with store.atomic() as c:
        c.execute("INSERT INTO voted VALUES ('0000000002','mayor','T07','E03',?,1)",
                  ((1_808_000_000_000 << 16),))
    f = by_voter_id(store.conn, "0000000002").found[0]
    assert [(m.contest, m.station, m.terminal) for m in f.voted] == [("mayor", "E03", "T07")]
    assert f.as_dict()["voted"][0]["at"].endswith("+09:00")


def test_no_roll_installed(tmp_path: Path) -> None:
    s = Store(tmp_path / "empty.db")
    try:
        with pytest.raises(RollNotInstalled):
            by_kana(s.conn, "さ")
    finally:
        s.close()


def test_kana_query_uses_index(store: Store) -> None:
    plan = " ".join(str(r) for r in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT voter_id FROM voters WHERE kana_key >= ? AND kana_key < ? "
        "ORDER BY kana_key, birth_date, voter_id LIMIT 51", ("サト", "サド")))
    assert "voters_kana" in plan and "TEMP B-TREE" not in plan


@pytest.mark.parametrize("q", ["佐藤", "\U0010ffff", "\udcff", "", "  "])
def test_non_kana_query_is_a_usage_error(store: Store, q: str) -> None:
    from ground.errors import UsageError
    with pytest.raises(UsageError):
        by_kana(store.conn, q)
