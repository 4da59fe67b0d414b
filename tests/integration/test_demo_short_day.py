"""A short run of ``meibo demo`` as the end-to-end smoke test: real HQ and terminal processes,
TLS, emulated LTE; the day must reconcile exactly (issue 11)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MEIBO = str(Path(sys.executable).parent / "meibo")


def test_short_demo_day_reconciles(tmp_path):
    p = subprocess.run([MEIBO, "demo", "--voters", "3000", "--checkins", "300", "--hours", "9", "--speed", "1200",
                        "--dir", str(tmp_path / "demo"), "--json"], capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stderr[-2000:] + p.stdout[-2000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["code"] == "ok"
    assert r["injected_double_votes"] >= 2  # voters at two stations while one was offline
    assert r["detected_double_votes"] == r["injected_double_votes"]
    assert r["stopped_online"] >= 1  # voted early on Saturday, back on Sunday: a hard stop
    assert r["events_lost"] == 0 and r["acknowledged_missing"] == 0
    assert r["absentee"] == 1 and r["revoked"]
    assert set(r["per_station"]) == {"E01", "E02", "C01", "D01", "E03", "C02"}
