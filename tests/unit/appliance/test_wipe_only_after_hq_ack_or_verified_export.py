"""`meibo terminal wipe`: refused while HQ has not acknowledged the whole journal; allowed then,
or with --force-after-export FILE when FILE is this terminal's complete signed export. It
destroys the sealed key, the store with WAL/SHM, TLS and device keys, and prints a wipe record."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from appliance import atrest
from ground.clock import FixedClock
from appliance.wipe import META_ACKED
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal
from sync_protocol.journal_file import export_journal
from tests.builders import EARLY_NOON, terminal_dir, voter
from tests.security_helpers import meibo

NOW = "2027-05-01T09:00"


@pytest.fixture(autouse=True)
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "shm"
    monkeypatch.setenv(atrest.RUNTIME_ENV, str(base))
    return base


def station(root: Path, terminal: str = "T01") -> TerminalDir:
    t = terminal_dir(root, [voter(str(i)) for i in range(1, 4)], terminal=terminal)
    atrest.open_station(t, "2468")
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        for i in range(1, 4):
            term.checkin(str(i), "c1")
    (t.tls).mkdir(exist_ok=True)
    (t.tls / "client.key").write_bytes(b"secret tls key")
    return t


def export(t: TerminalDir, out: Path, *, upto_all: bool = True) -> Path:
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        export_journal(term.store, SigningKey(t.device_key.read_bytes()), term.config.election_id,
                       term.terminal_id, term.station.station_id, out, "2027-04-30T20:00:00+09:00")
    return out


def set_acked(t: TerminalDir, seq: int) -> None:
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        with term.store.atomic() as c:
            term.store.set_meta(c, META_ACKED, str(seq))


def test_refused_until_acked_then_destroys_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = station(tmp_path / "t")
    set_acked(t, 2)
    rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--now", NOW)
    assert rc == 1 and out["code"] == "wipe_refused" and out["details"] == {"acked_seq": 2, "head_seq": 3}
    assert t.store_path.exists() and atrest.sealed_path(t).exists()

    set_acked(t, 3)
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        head = term.head()
    rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--now", NOW)
    assert rc == 0 and out["code"] == "ok"
    assert (out["terminal"], out["journal_head_seq"], out["acked_seq"], out["forced"]) == ("T01", 3, 3, False)
    assert out["journal_head_hash"] == head.hash.hex() and out["wiped_at"].startswith("2027-05-01T09:00")
    for gone in (t.store_path, atrest.sealed_path(t), t.device_key, t.tls / "client.key",
                 Path(str(t.store_path) + "-wal"), Path(str(t.store_path) + "-shm")):
        assert not gone.exists(), gone
    assert (t.root / "wipe-record.json").exists()
    rc, out = meibo(monkeypatch, capsys, "terminal", "checkin", str(t.root), "1")
    assert rc != 0


def test_force_after_complete_export_wipes_without_ack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = station(tmp_path / "t")
    f = export(t, tmp_path / "T01.mbj")
    rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--force-after-export", str(f),
                    "--now", NOW)
    assert rc == 0 and out["forced"] is True and out["export"]["events"] == 3 and out["acked_seq"] == 0
    assert not t.store_path.exists()


def test_export_that_is_stale_foreign_or_tampered_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = station(tmp_path / "t")
    stale = export(t, tmp_path / "stale.mbj")
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        term.void(1, "left", "c1")  # the journal moved on after the export
    other = export(station(tmp_path / "o", terminal="T02"), tmp_path / "other.mbj")
    full = export(t, tmp_path / "full.mbj")
    tampered = tmp_path / "tampered.mbj"
    raw = bytearray(full.read_bytes())
    raw[-20] ^= 1  # inside the last frame (compressed body or signature)
    tampered.write_bytes(bytes(raw))
    truncated = tmp_path / "truncated.mbj"
    truncated.write_bytes(full.read_bytes()[:-7])
    for f in (stale, other, tampered, truncated, tmp_path / "missing.mbj"):
        rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--force-after-export", str(f))
        assert rc == 1 and out["code"] == "export_mismatch", (f, out)
        assert t.store_path.exists() and atrest.sealed_path(t).exists()


def test_closed_station_cannot_be_wiped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = station(tmp_path / "t")
    set_acked(t, 3)
    atrest.close_station(t)
    rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root))
    assert out["code"] == "station_closed" and t.store_path.exists()
