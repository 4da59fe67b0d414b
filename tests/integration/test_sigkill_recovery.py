"""Real processes killed with SIGKILL at points the test observed: nothing acknowledged is lost, the SQLite
files pass ``PRAGMA integrity_check``, and sync resumes (rule 1, issue 8 real-process faults)."""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance import journal
from hq.store import HqStore
from tests.builders import raw_connect
from tests.integration.sync_env import make_env

MEIBO = str(Path(sys.executable).parent / "meibo")
ROOT = Path(__file__).resolve().parents[2]


def _start_hq(env) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([MEIBO, "hq", "serve", str(env.hq.root), "--dev-loopback"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert "待受" in line.decode(), line
    return p


def _integrity(path: Path) -> str:
    c = raw_connect(path) if path.name == "store.db" else sqlite3.connect(path)
    try:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        c.close()


# make test kills fewer times than make soak (MEIBO_HQ_KILLS / MEIBO_TERMINAL_KILLS, Makefile): the
# points are still each one the test saw, the soak only walks more of them
HQ_KILLS = int(os.environ.get("MEIBO_HQ_KILLS", "10"))
TERMINAL_KILLS = int(os.environ.get("MEIBO_TERMINAL_KILLS", "25"))
IN_FLIGHT = 5  # check-ins ordered at once before a kill: HQ dies with the rest of them on the way


class _Acks:
    """The driver's ``ACK seq voter acked`` lines, read on a thread; ``next()`` waits for one."""

    def __init__(self, driver: subprocess.Popen[str]) -> None:
        self.driver, self.lines = driver, queue.Queue[str | None]()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.driver.stdout is not None
        for line in self.driver.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def order(self, n: int) -> None:
        assert self.driver.stdin is not None
        self.driver.stdin.write(f"{n}\n")
        self.driver.stdin.flush()

    def next(self) -> tuple[int, int]:
        """(seq, acked) of the next check-in the terminal finished; fails if the driver died."""
        try:
            line = self.lines.get(timeout=60)
        except queue.Empty:
            pytest.fail("the terminal finished no check-in within 60 s")
        if line is None:
            pytest.fail(f"the terminal driver stopped (status {self.driver.wait()})")
        _, seq, _, acked = line.split()
        return int(seq), int(acked)


def test_hq_killed_mid_ingest_loses_no_acknowledged_event(tmp_path):
    """HQ is SIGKILLed HQ_KILLS times, each time at a point the test saw: after this HQ process
    acknowledged a random number (1..6) of new check-ins, and right after the terminal finished the
    first of IN_FLIGHT more, so the others are being sent, ingested or committed when it dies."""
    env = make_env(tmp_path, {"T01": "E01"})
    rng = random.Random(7)
    driver = subprocess.Popen([sys.executable, "-m", "tests.integration.kill_driver", str(env.terminals["T01"].root),
                               "1", "0", "hq"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    acks = _Acks(driver)
    max_acked = 0
    acked_at_kill: list[int] = []
    try:
        for _ in range(HQ_KILLS):
            hq = _start_hq(env)
            want, seen, acked = rng.randint(1, 6), 0, max_acked
            while seen < want:  # check-ins answered by this HQ process (acked moved on)
                acks.order(1)
                _, now = acks.next()
                seen, acked = seen + (now > acked), max(acked, now)
            acks.order(IN_FLIGHT)
            acks.next()
            hq.send_signal(signal.SIGKILL)
            hq.wait()
            acked_at_kill.append(acked)
            # what the terminal has been told is durable at HQ, right now
            max_acked = max(max_acked, acked, _terminal_acked(env))
            store = HqStore(env.hq)
            try:
                held = store.load().terminals["T01"].acked_seq
            finally:
                store.close()
            assert held >= max_acked, f"HQ lost acknowledged events: holds {held}, acked {max_acked}"
            assert _integrity(env.hq.hq_db) == "ok"
            for _ in range(IN_FLIGHT - 1):  # the rest finish offline (provisional)
                acks.next()
        hq = _start_hq(env)  # let it converge
        assert driver.stdin is not None
        driver.stdin.close()
        driver.wait(timeout=120)
        assert driver.returncode == 0
        deadline = time.monotonic() + 60
        while _terminal_acked(env) < _terminal_head(env) and time.monotonic() < deadline:
            subprocess.run([MEIBO, "terminal", "sync", str(env.terminals["T01"].root), "--timeout", "3"],
                           capture_output=True)
        hq.send_signal(signal.SIGTERM)
        hq.wait(timeout=10)
    finally:
        if driver.poll() is None:
            driver.kill()
    # every kill came after its HQ process had acknowledged check-ins the one before had not
    assert len(acked_at_kill) == HQ_KILLS and acked_at_kill == sorted(set(acked_at_kill)), acked_at_kill
    store = HqStore(env.hq)
    try:
        ledger = store.load()
        assert ledger.terminals["T01"].acked_seq == _terminal_head(env)
        assert ledger.active_alerts() == []  # one terminal, distinct voters: no double vote invented
    finally:
        store.close()


def _terminal_acked(env) -> int:
    c = raw_connect(env.terminals["T01"].store_path)
    try:
        row = c.execute("SELECT value FROM meta WHERE key='sync.acked_seq'").fetchone()
        return int(row[0]) if row else 0
    finally:
        c.close()


def _terminal_head(env) -> int:
    c = raw_connect(env.terminals["T01"].store_path)
    try:
        return int(c.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0])
    finally:
        c.close()


def test_terminal_killed_mid_checkin_keeps_every_acknowledged_checkin(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    rng = random.Random(11)
    acked: dict[int, str] = {}
    next_voter = 1
    for _ in range(TERMINAL_KILLS):
        p = subprocess.Popen([sys.executable, "-m", "tests.integration.kill_driver", str(env.terminals["T01"].root),
                              str(next_voter), "10", "none"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert p.stdout is not None
        lines = [p.stdout.readline() for _ in range(rng.randint(1, 9))]  # n check-ins told, then
        p.send_signal(signal.SIGKILL)  # killed during the next one
        out, _ = p.communicate()
        assert all(lines), f"the terminal died before its check-ins: {lines}"
        for line in [ln.decode() for ln in lines] + out.decode().splitlines():
            _, seq, voter, _ = line.split()
            acked[int(seq)] = voter
        next_voter += 10
        assert _integrity(env.terminals["T01"].store_path) == "ok"
    with env.terminal("T01") as t:
        rep = t.verify()
        assert rep.ok, rep.problem
        stored = {ev.seq: ev.voter for ev in journal.entries_after(t.store, 0, limit=100_000)
                  if ev.kind.value == "checkin"}
    missing = {s: v for s, v in acked.items() if stored.get(s) != v}
    assert acked and not missing, f"acknowledged check-ins lost: {missing}"
