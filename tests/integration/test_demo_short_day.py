"""A short run of ``meibo demo`` as the end-to-end smoke test: real HQ and terminal processes,
TLS, emulated LTE, terminals enrolled with (virtual) smart cards over a private pcscd; the day
must reconcile exactly (issue 11)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tooling.demo_report import DemoReport
from tooling.demo_windows import GuiSettings, gui_commands, open_windows

MEIBO = str(Path(sys.executable).parent / "meibo")
# tests/pcsc_fixtures.py (imported by other modules in the same run) points this at its own pcscd;
# the demo starts and names its own, as it would on an office PC.
ENV = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}


def _pcscd_unavailable_reason() -> str:
    """Why the demo could not start its own pcscd here ("" when it can). Probed in a child:
    libpcsclite reads its socket path once per process, and this process must not pin it."""
    code = ("import sys, tempfile, pathlib\n"
            "from provisioning.pcsc_service import PcscUnavailable, start_pcscd, stop_pcscd\n"
            "d = pathlib.Path(tempfile.mkdtemp(prefix='meibo-probe-'))\n"
            "try: stop_pcscd(start_pcscd(d, fresh_process=True))\n"
            "except PcscUnavailable as e: print(e); sys.exit(3)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return "" if p.returncode == 0 else (p.stdout + p.stderr).strip() or f"exit {p.returncode}"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("demo") / "demo"
    p = subprocess.run([MEIBO, "demo", "--voters", "3000", "--checkins", "300", "--hours", "9", "--speed", "1200",
                        "--dir", str(root), "--json"], capture_output=True, text=True, timeout=400, env=ENV)
    assert p.returncode == 0, p.stderr[-2000:] + p.stdout[-2000:]
    return root, json.loads(p.stdout.strip().splitlines()[-1])


def test_short_demo_day_reconciles(demo_run: tuple[Path, dict[str, Any]]) -> None:
    root, r = demo_run
    assert r["code"] == "ok"
    assert r["injected_double_votes"] >= 2  # voters at two stations while one was offline
    assert r["detected_double_votes"] == r["injected_double_votes"]
    assert r["stopped_online"] >= 1  # voted early on Saturday, back on Sunday: a hard stop
    assert r["events_lost"] == 0 and r["acknowledged_missing"] == 0
    assert r["absentee"] == 1 and r["revoked"]
    assert set(r["per_station"]) == {"E01", "E02", "C01", "D01", "E03", "C02"}
    assert r["enrollment"] in ("smart-card", "enroll-local")
    if r["enrollment"] == "smart-card":  # every terminal came from its own card, now used up
        c = subprocess.run([MEIBO, "provision", "list-cards", str(root / "hq"), "--json"],
                           capture_output=True, text=True, timeout=60, env=ENV)
        cards = json.loads(c.stdout)["cards"]
        assert sorted(x["terminal_id"] for x in cards) == sorted("T" + st for st in r["per_station"])
        assert {x["state"] for x in cards} == {"used"}, cards
    else:  # only where pcscd / vpcd cannot run at all
        reason = _pcscd_unavailable_reason()
        assert reason, "pcscd works here, yet the demo fell back to enroll-local"


def test_console_and_kiosk_open_on_the_demo_hq_after_the_day(demo_run: tuple[Path, dict[str, Any]]) -> None:
    """What ``meibo demo --console --kiosk`` starts once the day is over, offscreen: both windows stay
    up, and the console serves the demo's HQ on its sync port (the demo's own server has stopped)."""
    root, r = demo_run
    env = dict(ENV, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1")
    said: list[str] = []
    report = DemoReport(hq_address=r["hq_address"], revoked=r["revoked"])
    out = open_windows(root, gui_commands(root, report, 6, console=True, kiosk=True), env, said.append,
                       GuiSettings(settle_s=3.0))
    try:
        assert [w["window"] for w in out] == ["console", "kiosk"]
        assert all(w["started"] for w in out), (out, said)
        assert "TC01" in out[1]["command"] and r["hq_address"] in out[1]["command"]
        host, port = r["hq_address"].rsplit(":", 1)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the console did not serve the demo's HQ"
                time.sleep(0.3)
    finally:
        for w in out:
            if w.get("pid"):
                os.kill(w["pid"], signal.SIGTERM)
        for w in out:
            if w.get("pid"):
                for _ in range(100):
                    if os.waitpid(w["pid"], os.WNOHANG) != (0, 0):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(w["pid"], signal.SIGKILL)
                    os.waitpid(w["pid"], 0)
