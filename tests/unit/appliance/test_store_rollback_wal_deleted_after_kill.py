"""Deleting ``store.db-wal`` after the process was killed erases its check-ins: refused at open.

A real process appends check-ins (each one durable and acknowledged on stdout) and is SIGKILLed
while its entries are still only in the WAL; the test waits for the acknowledgements, never for
time. The same kill without touching the files is an honest crash and must open as before."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ground.clock import FixedClock
from appliance.dirs import TerminalDir
from ground.errors import MeiboError
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter

ROOT = Path(__file__).resolve().parents[3]
VOTERS = [voter(str(100001 + i)) for i in range(6)]
DRIVER = """
import sys
from pathlib import Path
from ground.clock import FixedClock
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON
t = Terminal.open(TerminalDir(Path(sys.argv[1])), FixedClock(EARLY_NOON))
for v in sys.argv[2:]:
    print("ACK", t.checkin(v, "c1").seq, flush=True)
sys.stdin.read()  # hold the store open (entries in the WAL) until killed
"""


def _killed_after(tdir: TerminalDir, voter_ids: list[str]) -> list[int]:
    """Run the driver, wait for every ACK, SIGKILL it; the seqs it acknowledged."""
    p = subprocess.Popen([sys.executable, "-c", DRIVER, str(tdir.root), *voter_ids], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked: list[int] = []
    try:
        assert p.stdout is not None
        while len(acked) < len(voter_ids):
            line = p.stdout.readline()
            assert line, f"driver stopped: {p.wait()} {p.stderr.read() if p.stderr else ''}"
            acked.append(int(line.split()[1]))
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    return acked


def test_wal_deleted_after_kill_is_refused_at_open(tmp_path):
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    assert _killed_after(tdir, ["100001", "100002", "100003"]) == [1, 2, 3]
    wal = Path(str(tdir.store_path) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the check-ins live only there
    wal.unlink()
    Path(str(tdir.store_path) + "-shm").unlink(missing_ok=True)
    with pytest.raises(MeiboError) as ei:
        Terminal.open(tdir, FixedClock(EARLY_NOON))
    assert ei.value.code == "store_rolled_back"
    assert ei.value.details["recorded_seq"] == 3 and ei.value.details["store_seq"] == 0
    assert "記録 3 番まであったはずが 0 番まで" in ei.value.message


def test_kill_then_honest_restart_opens_with_every_acknowledged_entry(tmp_path):
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    assert _killed_after(tdir, ["100001", "100002"]) == [1, 2]
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        assert t.head().seq == 2 and t.verify().ok
        assert t.checkin("100003", "c1").seq == 3
    assert _killed_after(tdir, ["100004"]) == [4]
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        assert t.head().seq == 4


def test_db_copied_without_its_wal_while_open_is_refused(tmp_path):
    """A hot copy of the directory that leaves out ``store.db-wal`` (what a careless backup or a
    deliberate one does) is behind the record; the same copy *with* the WAL is simply current."""
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        for v in ("100001", "100002"):
            assert t.checkin(v, "c1").recorded
        shutil.copytree(tdir.root, tmp_path / "no-wal", ignore=shutil.ignore_patterns("store.db-wal", "store.db-shm"))
        shutil.copytree(tdir.root, tmp_path / "with-wal")
    with pytest.raises(MeiboError) as ei:
        Terminal.open(TerminalDir(tmp_path / "no-wal"), FixedClock(EARLY_NOON))
    assert ei.value.code == "store_rolled_back" and ei.value.details["recorded_seq"] == 2
    with Terminal.open(TerminalDir(tmp_path / "with-wal"), FixedClock(EARLY_NOON)) as t:
        assert t.head().seq == 2
