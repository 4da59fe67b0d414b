"""Install refuses an older or equal version, another election's roll, a delta on the wrong base,
a manifest whose row count disagrees with the body, and a decompression bomb; nothing changes."""

import hashlib
import struct
import zlib
from pathlib import Path

import pytest

from ground.errors import RollRejected
from hq.roll import import_roll, publish
from appliance.rollpkg import MAGIC, Limits, Manifest, build_package, encode_voter, sign_header
from appliance.rollinstall import install_package
from appliance.rollcsv import parse_roll
from appliance.store import Store
from tests.builders_roll import BASE_ROWS, NOW, csv_text, make_hq, make_pair, store_snapshot, write_csv

EID = "yokohama-2027"


def _ops():  # type: ignore[no-untyped-def]
    voters = sorted(parse_roll(csv_text(BASE_ROWS).encode()), key=lambda v: v.voter_id)
    return [("+", encode_voter(v)) for v in voters]


def _package(seed: bytes, version: int = 1, **kw) -> bytes:  # type: ignore[no-untyped-def]
    args = dict(election_id=EID, version=version, base_version=None, kind="full", ops=_ops(),
                created="2027-04-01T09:00:00+09:00", seed=seed)
    args.update(kw)
    return build_package(**args)[0]  # type: ignore[arg-type]


def _forged_manifest(seed: bytes, body_raw: bytes, **override) -> bytes:  # type: ignore[no-untyped-def]
    """A correctly signed package whose manifest says what ``override`` says (HQ signing nonsense)."""
    body = zlib.compress(body_raw)
    fields = dict(election_id=EID, version=1, base_version=None, kind="full", row_count=5,
                  body_sha256=hashlib.sha256(body).hexdigest(), body_bytes=len(body), body_raw_bytes=len(body_raw),
                  created="2027-04-01T09:00:00+09:00")
    fields.update(override)
    m = Manifest(**fields).encode()  # type: ignore[arg-type]
    header = struct.pack(">8sHI", MAGIC, 1, len(m)) + m
    return header + sign_header(header, seed) + body


def _raw() -> bytes:
    return "".join(f"{op}\t{p}\n" for op, p in _ops()).encode()


def test_rollback_and_reinstall_refused(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    pub = pair.hq.roll_pub.read_bytes()
    store = Store(pair.terminal.store_path)
    try:
        install_package(store, _package(pair.seed, 2), pub, EID)
        before = store_snapshot(pair.terminal.store_path)
        for v in (1, 2):
            with pytest.raises(RollRejected) as e:
                install_package(store, _package(pair.seed, v), pub, EID)
            assert e.value.code == "roll_rollback"
        assert store_snapshot(pair.terminal.store_path) == before
        install_package(store, _package(pair.seed, 3), pub, EID)
        assert store.get_meta("roll_version") == "3"
    finally:
        store.close()


def test_other_election_refused(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    store = Store(pair.terminal.store_path)
    try:
        with pytest.raises(RollRejected) as e:
            install_package(store, _package(pair.seed, election_id="kawasaki-2027"),
                            pair.hq.roll_pub.read_bytes(), EID)
        assert e.value.code == "roll_other_election"
        assert store_snapshot(pair.terminal.store_path)["voters"] == []
        assert store.get_meta("election_id") is None
    finally:
        store.close()


def test_delta_on_wrong_base_refused(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    pub = pair.hq.roll_pub.read_bytes()
    store = Store(pair.terminal.store_path)
    try:
        delta = _package(pair.seed, 3, base_version=2, kind="delta", ops=[("-", "0000000001")])
        with pytest.raises(RollRejected) as e:
            install_package(store, delta, pub, EID)  # nothing installed yet
        assert e.value.code == "roll_base_mismatch"
        install_package(store, _package(pair.seed, 1), pub, EID)
        with pytest.raises(RollRejected) as e:
            install_package(store, delta, pub, EID)  # installed 1, delta from 2
        assert e.value.code == "roll_base_mismatch"
        assert store.get_meta("roll_version") == "1"
    finally:
        store.close()


@pytest.mark.parametrize("override,code", [
    ({"row_count": 6}, "roll_body_invalid"),
    ({"row_count": 4}, "roll_body_invalid"),
])
def test_row_count_disagreeing_with_body_refused(tmp_path: Path, override, code) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    store = Store(pair.terminal.store_path)
    try:
        with pytest.raises(RollRejected) as e:
            install_package(store, _forged_manifest(pair.seed, _raw(), **override), pair.hq.roll_pub.read_bytes(), EID)
        assert e.value.code == code
        assert store_snapshot(pair.terminal.store_path)["voters"] == []
        assert store.get_meta("roll_version") is None
    finally:
        store.close()


def test_bad_row_late_in_body_rolls_back_everything(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    pub = pair.hq.roll_pub.read_bytes()
    store = Store(pair.terminal.store_path)
    try:
        install_package(store, _package(pair.seed, 1), pub, EID)
        before = store_snapshot(pair.terminal.store_path)
        raw = _raw() + b"+\t9999999999\t1\tx\t\xe3\x82\xa2\t1985-04-01\tQ\tx\tregistered\t\t\t\n"
        with pytest.raises(RollRejected) as e:
            install_package(store, _forged_manifest(pair.seed, raw, version=2, row_count=6), pub, EID)
        assert e.value.code == "roll_body_invalid"
        assert store_snapshot(pair.terminal.store_path) == before
    finally:
        store.close()


def test_decompression_bomb_limited(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    store = Store(pair.terminal.store_path)
    bomb = b"+\t" + b"0" * (5 << 20)  # one 5 MiB line
    try:
        with pytest.raises(RollRejected):
            install_package(store, _forged_manifest(pair.seed, bomb, row_count=1), pair.hq.roll_pub.read_bytes(), EID)
        # a manifest that under-states the size is caught as soon as the output passes it
        with pytest.raises(RollRejected):
            install_package(store, _forged_manifest(pair.seed, _raw(), body_raw_bytes=100),
                            pair.hq.roll_pub.read_bytes(), EID)
        with pytest.raises(RollRejected):
            install_package(store, _forged_manifest(pair.seed, _raw()), pair.hq.roll_pub.read_bytes(), EID,
                            Limits(max_body_raw_bytes=100))
        assert store.get_meta("roll_version") is None
    finally:
        store.close()


def test_publish_then_install_records_meta(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    import_roll(pair.hq, write_csv(tmp_path / "roll.csv"), NOW)
    res = publish(pair.hq, tmp_path / "r.mbr", NOW)
    store = Store(pair.terminal.store_path)
    try:
        install_package(store, (tmp_path / "r.mbr").read_bytes(), pair.hq.roll_pub.read_bytes(), EID)
        assert store.get_meta("roll_version") == "1"
        assert store.get_meta("roll_digest") == res.manifest.body_sha256
        assert store.get_meta("election_id") == EID
        idx = store.conn.execute("SELECT sql FROM sqlite_master WHERE name='voters_kana'").fetchone()[0]
        assert "kana_key" in idx
        row = store.conn.execute("SELECT kana, kana_key FROM voters WHERE voter_id='0000000003'").fetchone()
        assert row == ("ヤマザキ イチロウ", "ヤマザキイチロウ")
    finally:
        store.close()


def test_other_key_cannot_pass_as_hq(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    _, other_seed = make_hq(tmp_path / "x", key_label="intruder")
    store = Store(pair.terminal.store_path)
    try:
        from ground.errors import RollSignatureInvalid
        with pytest.raises(RollSignatureInvalid):
            install_package(store, _package(other_seed, 1), pair.hq.roll_pub.read_bytes(), EID)
    finally:
        store.close()
