"""Durable check-in latency vs a bare fsynced single-row insert, measured in the same run.

``Terminal.checkin`` (voter lookup, voted flags, eligibility, journal append with hash chain,
voted rows, one fsynced commit, in the encrypted store) on a store holding 100k voters, against
two floors in equally configured plain SQLite files (WAL, ``synchronous=FULL``) in the same
directory, one operation of each interleaved so all three see the same disk and load:
- the goal's floor, "a bare insert of the same rows": the check-in's own journal row (its real
  body and hash) and its ``voted`` rows, into tables of the same shape, one commit; then, as the
  check-in does since the store's freshness check (appliance/freshness.py), the 64-byte head
  record written in place and fdatasynced beside it (part of the same durability promise: the
  I/O the check-in must do, not the terminal's own work);
- for comparison with earlier runs, a single 160-byte row and a commit.
Goal: check-in p99 ≤ 1.5 × same-rows floor p99. What the ratio then holds is the terminal's own
work: reading the voter, the eligibility decision, the hash chain and SQLCipher's page encryption.

Run: ``.venv/bin/python -m bench.checkin`` (or via ``make bench``). Environment: MEIBO_BENCH_VOTERS,
MEIBO_BENCH_CHECKINS to change the sizes.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ground.clock import FixedClock
from appliance.freshness import HEAD_DIR_ENV
from ground.model import Sex, Status, Voter, VoterId
from appliance.store import Store
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter_row

GOAL = 1.5


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def _voters(n: int) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n):
        v = Voter(VoterId(f"{i:09d}"), 1 + i % 30, "山田 太郎", "ヤマダ タロウ",
                  date(1940, 1, 1) + timedelta(days=i % 20000), Sex.MALE if i % 2 else Sex.FEMALE,
                  f"横浜市中区本町{i % 9 + 1}-{i % 50 + 1}", Status.REGISTERED)
        rows.append(tuple(voter_row(v).values()))
    return rows


def _floor_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, voter TEXT NOT NULL, body BLOB NOT NULL)")
    conn.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, hlc INTEGER NOT NULL, kind TEXT NOT NULL, "
                 "body BLOB NOT NULL, hash BLOB NOT NULL)")
    conn.execute("CREATE TABLE voted (voter_id TEXT NOT NULL, contest TEXT NOT NULL, terminal TEXT NOT NULL, "
                 "station TEXT NOT NULL, hlc INTEGER NOT NULL, seq INTEGER NOT NULL, "
                 "PRIMARY KEY (voter_id, contest)) WITHOUT ROWID")
    return conn


def run(voters: int | None = None, checkins: int | None = None) -> list[dict[str, Any]]:
    nv = voters or int(os.environ.get("MEIBO_BENCH_VOTERS", "100000"))
    nc = checkins or int(os.environ.get("MEIBO_BENCH_CHECKINS", "3000"))
    with tempfile.TemporaryDirectory(prefix="meibo-bench-", dir=os.environ.get("MEIBO_BENCH_DIR")) as d:
        saved_head_dir = os.environ.get(HEAD_DIR_ENV)
        os.environ[HEAD_DIR_ENV] = str(Path(d) / "heads")  # the head record on the same disk
        tdir = terminal_dir(Path(d) / "t")
        store = Store(tdir.store_path)
        cols = list(voter_row(Voter(VoterId("0"), 1, "", "", date(2000, 1, 1), Sex.MALE, "")).keys())
        with store.atomic() as conn:
            conn.executemany(f"INSERT INTO voters({','.join(cols)}) VALUES({','.join('?' * len(cols))})",
                             _voters(nv))
        store.close()
        term = Terminal(tdir, FixedClock(EARLY_NOON))
        step = max(1, nv // nc)
        fconn = _floor_db(Path(d) / "floor.db")
        head_fd = os.open(Path(d) / "floor.head", os.O_RDWR | os.O_CREAT, 0o600)
        lat: list[float] = []
        floor: list[float] = []
        same: list[float] = []
        # alternate one check-in and one floor insert so both see the same disk and load
        body = b"x" * 160  # about the size of a check-in entry
        for i in range(nc):
            vid = f"{(i * step) % nv:09d}"
            t0 = time.perf_counter()
            r = term.checkin(vid, "bench")
            lat.append(time.perf_counter() - t0)
            assert r.seq is not None and r.event is not None
            ev = r.event
            jrow = term.store.conn.execute("SELECT seq, hlc, kind, body, hash FROM journal WHERE seq=?",
                                           (ev.seq,)).fetchone()
            vrows = [(vid, c, ev.terminal, "S", ev.hlc, ev.seq) for c in ev.data["contests"]]
            t0 = time.perf_counter()
            fconn.execute("BEGIN IMMEDIATE")
            fconn.execute("INSERT INTO journal VALUES(?, ?, ?, ?, ?)", tuple(jrow))
            fconn.executemany("INSERT INTO voted VALUES(?, ?, ?, ?, ?, ?)", vrows)
            fconn.execute("COMMIT")
            os.pwrite(head_fd, jrow[4][:32].ljust(64, b"\0"), 64 * (i % 2))
            os.fdatasync(head_fd)
            same.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fconn.execute("BEGIN IMMEDIATE")
            fconn.execute("INSERT INTO t(voter, body) VALUES(?, ?)", (vid, body))
            fconn.execute("COMMIT")
            floor.append(time.perf_counter() - t0)
        rep = term.verify()
        assert rep.ok and rep.entries == nc
        term.close()
        fconn.close()
        os.close(head_fd)
        if saved_head_dir is None:
            os.environ.pop(HEAD_DIR_ENV, None)
        else:
            os.environ[HEAD_DIR_ENV] = saved_head_dir
    p99, f99, s99 = _pct(lat, 99), _pct(floor, 99), _pct(same, 99)
    figures = [
        {"name": "checkin_p50_ms", "value": round(statistics.median(lat) * 1000, 3)},
        {"name": "checkin_p99_ms", "value": round(p99 * 1000, 3)},
        {"name": "floor_insert_p50_ms", "value": round(statistics.median(floor) * 1000, 3)},
        {"name": "floor_insert_p99_ms", "value": round(f99 * 1000, 3)},
        {"name": "floor_same_rows_p50_ms", "value": round(statistics.median(same) * 1000, 3)},
        {"name": "floor_same_rows_p99_ms", "value": round(s99 * 1000, 3)},
        {"name": "checkin_p99_vs_one_row", "value": round(p99 / f99, 2)},
        {"name": "checkin_p99_ratio", "value": round(p99 / s99, 2), "goal": GOAL, "ok": p99 / s99 <= GOAL,
         "voters": nv, "checkins": nc},
    ]
    for f in figures:
        extra = f"  (goal ≤ {f['goal']}×: {'ok' if f['ok'] else 'MISSED'})" if "goal" in f else ""
        print(f"checkin  {f['name']:<22} {f['value']}{extra}")
    return figures


if __name__ == "__main__":
    run()
