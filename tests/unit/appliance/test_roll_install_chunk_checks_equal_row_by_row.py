"""A full roll installs through the per-chunk checks (appliance/rollinstall.py ``_chunk_fields``)
with exactly the rows and exactly the errors of the row-by-row reference (``row_tuple`` and
``_chunk_rows``): every status, 生年月日 不詳, kana with spaces, many chunks, plain and SQLCipher
stores; a bad row anywhere is refused with the reference's message and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import rollinstall
from appliance.rollinstall import install_package
from appliance.rollpkg import Limits, build_package, public_key_of, row_tuple
from appliance.store import Store
from ground.errors import RollRejected
from tests.builders_roll import store_snapshot

EID = "yokohama-2027"
SEED = bytes(range(32))
PUB = public_key_of(SEED)
SMALL = Limits(chunk=512)  # ~2 KB of text per chunk: a bad row lands mid-chunk, chunks are many
BIRTHS = ("1985-04-01", "1945-03-00", "1945-00-00", "0000-00-00", "2000-02-29", "1899-12-31")
TAILS = ("registered\t\t\t", "deleted\t\t\t", "displayed\tlost_rights\t\t", "displayed\tmoved\t2027-03-01\t1",
         "displayed\tmoved\t2026-12-31\t0")
KANAS = ("サトウ タロウ", "タカハシ", "ヴァン デ ベルグ", "ABC テスト", "ヤマ・ダ")


def _lines(n: int = 2000) -> list[str]:
    return [f"{i:010d}\t{(0, 1, 9999, 42)[i % 4]}\t佐藤 太郎{i}\t{KANAS[i % 5]}\t{BIRTHS[i % 6]}\t{'MF'[i % 2]}\t"
            f"横浜市中区本町{i}-1\t{TAILS[i % 5]}" for i in range(1, n + 1)]


def _package(lines: list[str], version: int = 1) -> bytes:
    return build_package(election_id=EID, version=version, base_version=None, kind="full",
                         ops=[("+", x) if not x.startswith(("+\t", "-\t", "!")) else (x[0], x[2:]) for x in lines],
                         created="2027-04-01T09:00:00+09:00", seed=SEED)[0]


def _reference_error(lines: list[str]) -> str:
    with pytest.raises(RollRejected) as e:
        rollinstall._chunk_rows([x if x.startswith(("+\t", "-\t", "!")) else "+\t" + x for x in lines], 0, "")
    return str(e.value)


@pytest.mark.parametrize("key", [None, bytes(32)], ids=["plain", "sqlcipher"])
def test_rows_equal_row_tuple_and_take_the_chunk_path(tmp_path: Path, key: bytes | None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = rollinstall._chunk_rows
    monkeypatch.setattr(rollinstall, "_chunk_rows", lambda *a: calls.append(1) or real(*a))
    lines = _lines()
    store = Store(tmp_path / "store.db", key=key)
    try:
        res = install_package(store, _package(lines), PUB, EID, SMALL)
        assert res.put == len(lines)
        got = store.conn.execute("SELECT * FROM voters ORDER BY voter_id").fetchall()
        assert got == [row_tuple(x) for x in lines]
        assert [type(v) for v in got[3]] == [type(v) for v in row_tuple(lines[3])]  # 42 stays an int
        assert calls == []  # a good roll never needs the row-by-row path
        plan = store.conn.execute("EXPLAIN QUERY PLAN SELECT * FROM voters WHERE kana_key >= 'サ' AND kana_key < 'シ' "
                                  "ORDER BY kana_key, birth_date").fetchall()
        assert "voters_kana" in str(plan)
    finally:
        store.close()


def _bad(kind: str) -> list[str]:
    lines = _lines()
    i = 1234  # mid-roll, mid-chunk
    f = lines[i].split("\t")
    if kind == "duplicate":
        lines[i] = lines[i - 1]
    elif kind == "order":
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif kind == "unknown op":
        lines.insert(i, "!\t")
    elif kind == "delete op":
        lines[i] = "-\t" + f[0]
    else:
        col, value = {"birth 2023-02-30": (4, "2023-02-30"), "birth 1945-13-00": (4, "1945-13-00"),
                      "birth 0000-03-00": (4, "0000-03-00"), "birth 1945-00-12": (4, "1945-00-12"),
                      "sex Q": (5, "Q"), "district 01": (1, "01"), "kana kanji": (3, "佐藤"),
                      "name tab-free control": (2, "a\x01b")}[kind]
        f[col] = value
        lines[i] = "\t".join(f)
    return lines


BAD_KINDS = ["birth 2023-02-30", "birth 1945-13-00", "birth 0000-03-00", "birth 1945-00-12", "sex Q", "district 01",
             "kana kanji", "name tab-free control", "duplicate", "order", "delete op", "moved 2027-02-30"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_row_refused_with_the_reference_message_and_nothing_changes(tmp_path: Path, kind: str) -> None:
    if kind == "moved 2027-02-30":
        lines = _lines()
        lines[1233] = lines[1233].replace("2026-12-31", "2027-02-30")
        assert "2027-02-30" in lines[1233]
    else:
        lines = _bad(kind)
    store = Store(tmp_path / "store.db", key=None)
    try:
        install_package(store, _package(_lines(50)), PUB, EID, SMALL)
        before = store_snapshot(tmp_path / "store.db")
        with pytest.raises(RollRejected) as e:
            install_package(store, _package(lines, version=2), PUB, EID, SMALL)
        assert e.value.code == "roll_body_invalid"
        assert str(e.value) == _reference_error(lines)
        assert "1235 件目" in str(e.value) or "1234 件目" in str(e.value) or "1236 件目" in str(e.value)
        assert store_snapshot(tmp_path / "store.db") == before
        assert store.get_meta("roll_version") == "1"
    finally:
        store.close()
