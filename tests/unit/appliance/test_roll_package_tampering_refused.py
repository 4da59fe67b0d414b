"""A flipped byte anywhere in a signed roll package is refused, and the store is left unchanged."""

from pathlib import Path

import pytest

from cli.main import main
from ground.errors import RollSignatureInvalid
from hq.roll import import_roll, publish
from appliance.rollpkg import decode_package
from appliance.rollinstall import install_package
from appliance.store import Store
from tests.builders_roll import NOW, make_pair, store_snapshot, write_csv


@pytest.fixture()
def published(tmp_path: Path):  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    import_roll(pair.hq, write_csv(tmp_path / "roll.csv"), NOW)
    res = publish(pair.hq, tmp_path / "r1.mbr", NOW)
    return pair, (tmp_path / "r1.mbr").read_bytes(), res


def test_package_round_trip(published) -> None:  # type: ignore[no-untyped-def]
    pair, data, res = published
    manifest, ops = decode_package(data, pair.hq.roll_pub.read_bytes())
    assert manifest.row_count == 5 and manifest.version == 1 and manifest.kind == "full"
    assert [op for op, _ in ops] == ["+"] * 5
    assert [p.split("\t")[0] for _, p in ops] == sorted(p.split("\t")[0] for _, p in ops)


def test_flipped_byte_at_many_positions(published) -> None:  # type: ignore[no-untyped-def]
    pair, data, _ = published
    pub = pair.hq.roll_pub.read_bytes()
    store = Store(pair.terminal.store_path)
    try:
        install_package(store, data, pub, "yokohama-2027")
        before = store_snapshot(pair.terminal.store_path)
        positions = sorted({0, 7, 8, 9, 11, 13, 14, 40, 100, len(data) // 2, len(data) - 65, len(data) - 64,
                            len(data) - 1} | set(range(0, len(data), max(1, len(data) // 40))))
        for pos in positions:
            bad = bytearray(data)
            bad[pos] ^= 0x01
            with pytest.raises(RollSignatureInvalid) as e:
                install_package(store, bytes(bad), pub, "yokohama-2027")
            assert e.value.code == "roll_signature_invalid" and "署名" in e.value.message
        assert store_snapshot(pair.terminal.store_path) == before
    finally:
        store.close()


def test_truncated_and_extended_files_refused(published) -> None:  # type: ignore[no-untyped-def]
    pair, data, _ = published
    pub = pair.hq.roll_pub.read_bytes()
    store = Store(pair.terminal.store_path)
    try:
        for bad in (data[:-1], data + b"\0", data[:10], b"", data[:200]):
            with pytest.raises(RollSignatureInvalid):
                install_package(store, bad, pub, "yokohama-2027")
        assert store.get_meta("roll_version") is None
    finally:
        store.close()


def test_signed_by_another_key_refused(published, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pair, data, _ = published
    from tests.builders_roll import make_hq
    other, _ = make_hq(tmp_path / "other", key_label="other")
    store = Store(pair.terminal.store_path)
    try:
        with pytest.raises(RollSignatureInvalid):
            install_package(store, data, other.roll_pub.read_bytes(), "yokohama-2027")
    finally:
        store.close()


def test_cli_flipped_byte_json_code(published, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pair, data, _ = published
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x80
    (tmp_path / "bad.mbr").write_bytes(bytes(bad))
    rc = main(["terminal", "install-roll", str(pair.terminal.root), str(tmp_path / "bad.mbr"), "--json"])
    out = capsys.readouterr().out
    assert rc != 0 and '"code": "roll_signature_invalid"' in out
    assert store_snapshot(pair.terminal.store_path).get("voters", []) == []


def test_cli_refuses_before_creating_the_store(published, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pair, data, _ = published
    bad = bytearray(data)
    bad[-1] ^= 0x01
    (tmp_path / "bad.mbr").write_bytes(bytes(bad))
    assert not pair.terminal.store_path.exists()
    assert main(["terminal", "install-roll", str(pair.terminal.root), str(tmp_path / "bad.mbr")]) != 0
    assert not pair.terminal.store_path.exists()
