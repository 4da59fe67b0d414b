"""Hostile input changes nothing: a mutated roll package offered to an (encrypted) terminal store
leaves every row and meta key as it was; a hostile election.toml creates no HQ directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, HealthCheck, given, settings
from hypothesis import strategies as st

from ground.clock import FixedClock
from hq.terminals import hq_init
from ground.errors import MeiboError
from appliance.rollpkg import build_package, encode_voter, public_key_of
from appliance.rollinstall import install_package
from appliance.store import Store
from fuzz.targets import TEST_SEED
from tests.builders import EARLY_NOON, raw_connect, terminal_dir, voter


def snapshot(path: Path) -> list[object]:
    c = raw_connect(path)
    try:
        return [c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("meta", "voters", "journal", "voted")]
    finally:
        c.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_roll_package_leaves_the_store_unchanged(tmp_path_factory: pytest.TempPathFactory,
                                                         data: st.DataObject) -> None:
    root = tmp_path_factory.mktemp("t")
    t = terminal_dir(root / "t", [voter("100001")])
    pkg, _ = build_package(election_id="yokohama-2027", version=1, base_version=None, kind="full",
                           ops=[("+", encode_voter(voter(str(100000 + i)))) for i in range(1, 30)],
                           created="2027-04-01T00:00:00+09:00", seed=TEST_SEED)
    raw = bytearray(pkg)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        if data.draw(st.booleans()):
            raw[pos] ^= data.draw(st.integers(1, 255))
        else:
            del raw[pos:]
            if not raw:
                raw = bytearray(b"\0")
    assume(bytes(raw) != pkg)  # two flips of one byte can cancel out: that is the genuine package
    before = snapshot(t.store_path)
    store = Store(t.store_path)
    try:
        with pytest.raises(MeiboError):
            install_package(store, bytes(raw), public_key_of(TEST_SEED), "yokohama-2027")
    finally:
        store.close()
    assert snapshot(t.store_path) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=512) | st.text(max_size=200).map(lambda s: ("[election]\n" + s).encode("utf-8")))
def test_hostile_election_toml_creates_nothing(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    root = tmp_path_factory.mktemp("h")
    cfg = root / "election.toml"
    cfg.write_bytes(raw)
    with pytest.raises(MeiboError):
        hq_init(root / "hq", cfg, FixedClock(EARLY_NOON))
    assert sorted(p.name for p in root.iterdir()) == ["election.toml"]
