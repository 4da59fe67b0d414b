"""`meibo hq init` and `meibo hq enroll-local` through the real console script."""

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509

from tests.builders import election_toml

ROOT = Path(__file__).resolve().parents[3]
MEIBO = str(ROOT / ".venv" / "bin" / "meibo")


def meibo(*args: str) -> tuple[int, dict[str, Any]]:
    p = subprocess.run([MEIBO, *args, "--json"], capture_output=True, text=True, timeout=120)
    return p.returncode, json.loads(p.stdout)


def test_bad_config_names_key_and_creates_nothing(tmp_path: Path) -> None:
    bad = election_toml(stations=[{"id": "E01", "name": "x", "kind": "early",
                                   "open": [{"hours": "05:00-20:00"}]},
                                  {"id": "D1", "name": "y", "kind": "day"}])
    (tmp_path / "e.toml").write_text(bad, "utf-8")
    rc, out = meibo("hq", "init", str(tmp_path / "hq"), "--config", str(tmp_path / "e.toml"))
    assert rc != 0 and out["code"] == "config_invalid"
    keys = {p["column"] for p in out["problems"]}
    assert {"station[0].open[0].hours", "station[1].district"} <= keys
    assert not (tmp_path / "hq").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["e.toml"]


def test_init_refuses_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "e.toml").write_text(election_toml(), "utf-8")
    (tmp_path / "hq").mkdir()
    (tmp_path / "hq" / "keep.txt").write_text("x")
    rc, out = meibo("hq", "init", str(tmp_path / "hq"), "--config", str(tmp_path / "e.toml"))
    assert rc != 0 and out["code"] == "dir_not_empty"
    assert [p.name for p in (tmp_path / "hq").iterdir()] == ["keep.txt"]


def test_init_then_enroll_local(tmp_path: Path) -> None:
    (tmp_path / "e.toml").write_text(election_toml(), "utf-8")
    hq = tmp_path / "hq"
    rc, out = meibo("hq", "init", str(hq), "--config", str(tmp_path / "e.toml"), "--now", "2027-03-01T10:00")
    assert rc == 0 and out["code"] == "ok" and out["contests"] == ["shu", "shinsa", "governor", "mayor"]
    key = hq / "keys" / "roll_signing.key"
    assert len(key.read_bytes()) == 32 and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len((hq / "keys" / "roll_signing.pub").read_bytes()) == 32

    (tmp_path / "pin").write_text("2468\n")
    t1 = tmp_path / "t1"
    rc, out = meibo("hq", "enroll-local", str(hq), "--terminal", "T01", "--station", "E01", "--out", str(t1),
                    "--pin-file", str(tmp_path / "pin"), "--now", "2027-03-01T10:00")
    assert rc == 0 and out["terminal"] == "T01" and out["station"] == "E01"
    assert (t1 / "keys" / "hq_roll.pub").read_bytes() == (hq / "keys" / "roll_signing.pub").read_bytes()
    assert stat.S_IMODE((t1 / "keys" / "device.key").stat().st_mode) == 0o600
    assert 'station = "E01"' in (t1 / "terminal.toml").read_text("utf-8")
    assert (t1 / "store.db").exists() and (t1 / "election.toml").exists()
    assert "2468" not in (t1 / "keys" / "supervisor.pin").read_text()
    reg = json.loads((hq / "terminals.json").read_text("utf-8"))
    serial = x509.load_pem_x509_certificate((t1 / "tls" / "client.pem").read_bytes()).serial_number
    assert reg == [{"terminal": "T01", "station": "E01", "device_pub": (t1 / "keys" / "device.pub").read_bytes().hex(),
                    "enrolled_at": "2027-03-01T10:00:00+09:00", "revoked": False, "tls_serials": [serial],
                    "enrolled_by": "local"}]

    rc, out = meibo("hq", "enroll-local", str(hq), "--terminal", "T01", "--station", "E01", "--out", str(t1))
    assert rc != 0 and out["code"] == "already_enrolled"
    rc, out = meibo("hq", "enroll-local", str(hq), "--terminal", "T02", "--station", "Z9", "--out", str(tmp_path / "t2"))
    assert rc != 0 and out["code"] == "station_unknown" and not (tmp_path / "t2").exists()

    rc, out = meibo("hq", "enroll-local", str(hq), "--terminal", "T01", "--station", "E02", "--out", str(t1),
                    "--replace", "--now", "2027-03-02T10:00")
    assert rc == 0
    assert 'station = "E02"' in (t1 / "terminal.toml").read_text("utf-8")
    assert list(tmp_path.glob("t1.replaced-*"))  # the old directory (and its journal) is kept
    reg = json.loads((hq / "terminals.json").read_text("utf-8"))
    assert [(r["station"], r["revoked"]) for r in reg] == [("E01", True), ("E02", False)]
