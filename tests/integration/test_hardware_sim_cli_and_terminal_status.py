"""`meibo hardware sim` serves simulated devices on real ptys; `meibo terminal status` reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from tests.builders import election_toml


def _tdir(tmp_path: Path) -> Path:
    t = tmp_path / "term"
    t.mkdir()
    text = election_toml() + '\n[barcode]\nprefix = "13"\n\n[network]\nclosed_apn = "meibo.closed.lg.jp"\n'
    (t / "election.toml").write_text(text, "utf-8")
    return t


def _send(proc: subprocess.Popen[str], line: str) -> dict[str, str]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def test_sim_then_status_shows_apn_violation_and_deregistration(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    tdir = _tdir(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "hardware", "sim", "--modem", "2", "--scanner",
                             "--json", "--dir", str(tmp_path / "dev"), "--duration", "60"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        paths = json.loads(proc.stdout.readline())
        assert paths["code"] == "started" and len(paths["modems"]) == 2
        m1, m2 = paths["modems"]
        assert main(["terminal", "status", str(tdir), "--modem", m1, "--json", "--timeout", "1"]) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["modems"][0]["apn_check"] == "unknown"  # `status` never sets the APN; none set yet
        for i in (1, 2):  # as if `terminal run` (or the SIM profile) had set the closed APN
            assert _send(proc, f"apn meibo.closed.lg.jp {i}")["code"] == "apn"
        assert main(["terminal", "status", str(tdir), "--modem", m1, "--modem", m2, "--scanner", paths["scanner"],
                     "--json", "--timeout", "1"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["modems"][0]["registered"] and out["modems"][0]["bars"] == 4
        assert out["scanner"]["connected"]
        assert _send(proc, "apn internet.example 1")["code"] == "apn"
        assert _send(proc, "deregister 2")["code"] == "deregister"
        assert _send(proc, "bogus")["code"] == "bad_action"
        assert main(["terminal", "status", str(tdir), "--modem", m1, "--modem", m2, "--json", "--timeout", "1"]) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["code"] == "hardware_problem" and out["problems"] == ["lte1", "lte2"]
        assert out["modems"][0]["apn_check"] == "violation" and not out["modems"][1]["registered"]
        assert proc.stdin is not None
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        final = json.loads(proc.stdout.readline())
        assert final["code"] == "ok" and final["actions"] == 5
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()
