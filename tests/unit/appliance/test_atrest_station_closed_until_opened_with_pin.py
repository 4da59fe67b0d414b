"""At rest: a terminal enrolled with a PIN has an encrypted store that nothing reads until the
station is opened with that PIN; closing (or a reboot, which clears tmpfs) locks it again."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from appliance import atrest
from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import TerminalDir
from ground.errors import StationClosed
from appliance.store import Store
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, election_toml, insert_voters, voter
from tests.security_helpers import meibo

NOW = "2027-04-20T12:00"


@pytest.fixture
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "shm"
    monkeypatch.setenv(atrest.RUNTIME_ENV, str(base))
    return base


def enrolled(tmp_path: Path, pin: str | None = "135790") -> TerminalDir:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="atrest"), "utf-8")
    clock = FixedClock(EARLY_NOON)
    hq_init(tmp_path / "hq", cfg, clock)
    out = tmp_path / "T01"
    enroll_local(tmp_path / "hq", "T01", "E01", out, clock, pin=pin)
    return TerminalDir(out)


def pin_file(tmp_path: Path, pin: str) -> str:
    p = tmp_path / f"pin-{pin}"
    p.write_text(pin + "\n")
    return str(p)


def test_closed_station_refused_open_works_close_refuses_again(
        tmp_path: Path, shm: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = enrolled(tmp_path)
    with pytest.raises(StationClosed):
        Terminal.open(t, FixedClock(EARLY_NOON))
    rc, out = meibo(monkeypatch, capsys, "terminal", "checkin", str(t.root), "1", "--now", NOW)
    assert rc != 0 and out["code"] == "station_closed" and "開設されていません" in out["message"]

    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file",
                    pin_file(tmp_path, "135790"), "--clerk", "sup1", "--now", NOW)
    assert rc == 0 and out["code"] == "ok" and out["encrypted"] is True and out["seq"] == 1
    key_file = atrest.runtime_dir(t) / "key"
    assert key_file.parent.parent == shm
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    # the unlocked key is nowhere under TDIR
    key = key_file.read_bytes()
    assert all(key not in p.read_bytes() for p in t.root.rglob("*") if p.is_file())

    store = Store(t.store_path)
    insert_voters(store, [voter("1", name="秘密 花子", name_kana="ヒミツ ハナコ")])
    store.close()
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        assert term.checkin("1", "c1").recorded
        assert term.store.encrypted

    rc, out = meibo(monkeypatch, capsys, "terminal", "close", str(t.root), "--now", NOW)
    assert rc == 0 and out["code"] == "ok" and out["was_open"] is True
    assert not key_file.exists()
    rc, out = meibo(monkeypatch, capsys, "terminal", "verify", str(t.root))
    assert out["code"] == "station_closed"
    rc, out = meibo(monkeypatch, capsys, "terminal", "close", str(t.root))
    assert out["code"] == "already_closed"


def test_stolen_powered_off_terminal_reveals_no_personal_data(tmp_path: Path, shm: Path) -> None:
    t = enrolled(tmp_path)
    atrest.open_station(t, "135790")
    store = Store(t.store_path)
    insert_voters(store, [voter("1", name="秘密 花子", name_kana="ヒミツ ハナコ", address="横浜市秘密町9-9")])
    store.close()
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        term.checkin("1", "c1")
    atrest.close_station(t)  # power off: tmpfs is gone
    disk = b"".join(p.read_bytes() for p in t.root.rglob("*") if p.is_file())
    for secret in ("秘密 花子", "ヒミツ", "横浜市秘密町", '"voter":"1"'):
        assert secret.encode("utf-8") not in disk
    c = sqlite3.connect(t.store_path)
    with pytest.raises(sqlite3.DatabaseError):
        c.execute("SELECT * FROM voters").fetchall()
    c.close()


def test_wrong_pin_counts_down_then_locks_and_right_pin_resets(tmp_path: Path, shm: Path) -> None:
    t = enrolled(tmp_path)
    settings = atrest.AtRestSettings(max_tries=3)
    with pytest.raises(atrest.PinWrong) as e:
        atrest.open_station(t, "000000", settings)
    assert e.value.details["tries_left"] == 2 and "あと 2 回" in e.value.message
    atrest.open_station(t, "135790", settings)  # right PIN resets the count
    atrest.close_station(t)
    for left in (2, 1):
        with pytest.raises(atrest.PinWrong) as e:
            atrest.open_station(t, "111111", settings)
        assert e.value.details["tries_left"] == left
    with pytest.raises(atrest.PinLocked):
        atrest.open_station(t, "111111", settings)
    with pytest.raises(atrest.PinLocked):
        atrest.open_station(t, "135790", settings)  # locked even for the right PIN
    assert atrest.unlocked_key(t) is None


def test_sealed_file_holds_a_list_of_wrappings_and_no_key(tmp_path: Path, shm: Path) -> None:
    t = enrolled(tmp_path)
    doc = atrest.read_sealed(t)
    assert [w["kind"] for w in doc["wrappings"]] == ["pin"] and doc["wrappings"][0]["kdf"] == "argon2id"
    assert stat.S_IMODE(atrest.sealed_path(t).stat().st_mode) == 0o600
    atrest.open_station(t, "135790")
    key = atrest.unlocked_key(t)
    assert key is not None and key.hex() not in atrest.sealed_path(t).read_text()
    # a stale runtime key of another terminal is not taken for this one
    (atrest.runtime_dir(t) / "key").write_bytes(os.urandom(32))
    assert atrest.unlocked_key(t) is None
    with pytest.raises(StationClosed):
        Store(t.store_path)


def test_enrolled_without_pin_stays_plain_and_open_says_so(
        tmp_path: Path, shm: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = enrolled(tmp_path, pin=None)
    assert not atrest.is_protected(t)
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        assert not term.store.encrypted
    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", pin_file(tmp_path, "1234"))
    assert rc == 0 and out["encrypted"] is False
    bad = tmp_path / "bad-pin"
    bad.write_text("12ab")
    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", str(bad))
    assert rc == 2 and out["code"] == "pin_invalid"
