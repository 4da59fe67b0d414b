"""Real processes killed with SIGKILL at random points: nothing acknowledged is lost, the SQLite
files pass ``PRAGMA integrity_check``, and sync resumes (rule 1, issue 8 real-process faults)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from appliance import journal
from sync_protocol.hq_store import HqStore
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


def test_hq_killed_mid_ingest_loses_no_acknowledged_event(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    rng = random.Random(7)
    driver = subprocess.Popen([sys.executable, "-m", "tests.integration.kill_driver", str(env.terminals["T01"].root),
                               "1", "500", "hq"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    max_acked = 0
    kills = 0
    try:
        deadline = time.time() + 90
        while driver.poll() is None and time.time() < deadline and kills < 50:
            hq = _start_hq(env)
            time.sleep(rng.uniform(0.05, 0.4))
            hq.send_signal(signal.SIGKILL)
            hq.wait()
            kills += 1
            # what the terminal has been told is durable at HQ, right now
            max_acked = max(max_acked, _terminal_acked(env))
            store = HqStore(env.hq)
            try:
                held = store.load().terminals["T01"].acked_seq
            finally:
                store.close()
            assert held >= max_acked, f"HQ lost acknowledged events: holds {held}, acked {max_acked}"
            assert _integrity(env.hq.hq_db) == "ok"
        hq = _start_hq(env)  # let it finish and converge
        driver.wait(timeout=120)
        assert driver.returncode == 0
        lines = driver.stdout.read().decode().split()
        deadline = time.time() + 20
        while _terminal_acked(env) < _terminal_head(env) and time.time() < deadline:
            subprocess.run([MEIBO, "terminal", "sync", str(env.terminals["T01"].root), "--timeout", "3"],
                           capture_output=True)
        hq.send_signal(signal.SIGTERM)
        hq.wait(timeout=10)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert kills >= 20, kills
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
    for _ in range(50):
        p = subprocess.Popen([sys.executable, "-m", "tests.integration.kill_driver", str(env.terminals["T01"].root),
                              str(next_voter), "10", "none"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 1.3))  # start-up takes ~0.8 s here
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate()
        for line in out.decode().splitlines():
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
