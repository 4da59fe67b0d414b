"""Where HQ's time goes, step by step, per event (issue 20): the profile behind bench sync's
ingest ratio and bench restart's cold-start ratio, each step beside its floor from the same run.

Ingest (the server's path, as bench sync runs it, on 20 terminals × 2,000 check-ins in batches
of 500): frame decode (zlib, split, ``decode_batch``), ``HqSession.receive`` (``check_batch``:
identity, chain hashes, Ed25519), ``Ledger.apply_all``, the rows for the store, the SQL insert
and its fsynced commit, the ACK with its verdicts; the floor is bench sync's (the same rows,
table and durability, bare ``executemany``). Cold start (bench restart's day-like mix, 100k
events by default, ``MEIBO_BENCH_STEPS_EVENTS``): reading the bodies, ``replay``'s parse and
checks, ``replay``'s apply; the floor is bench restart's (SELECT + ``orjson.loads``).

Each step is CPU time of this thread (``time.thread_time``) except the commit, which waits on
the disk (wall time): the machine these run on is shared, and a thread's CPU time does not
count the time another process had the core. ``gc`` is the cyclic collector's share, measured
by its callbacks, inside the steps it interrupted; the ingest runs twice, with the collector
as a fresh process has it and as ``meibo hq serve`` runs it (the loaded heap frozen).

Run: ``.venv/bin/python -m bench steps``.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from appliance.dirs import HqDir
from appliance.store import connect
from ground.clock import FixedClock
from ground.events import EventKind
from hq.ledger.replay import _parse, replay
from hq.session import HqSession
from hq.store import HqStore
from hq.terminals import hq_init
from sync_protocol.codec import decode
from tests.builders import EARLY_NOON, election_toml


class _GcClock:
    """CPU time the cyclic collector spent, by its callbacks."""

    def __init__(self) -> None:
        self.total = 0.0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.thread_time()
        else:
            self.total += time.thread_time() - self._t0


def ingest_steps(workdir: Path, frozen: bool) -> dict[str, Any]:
    from bench.sync import _frames

    cfg = workdir / "election.toml"
    cfg.write_text(election_toml(election_id="bench"), "utf-8")
    hq = HqDir(workdir / "hq")
    hq_init(hq.root, cfg, FixedClock(EARLY_NOON))
    frames, keys = _frames(20, 2000, "bench")
    store = HqStore(hq)
    ledger = store.load()
    for tid, pub in keys.items():
        ledger.register(tid, f"S{int(tid[1:]):02d}", pub)
    sessions = {tid: HqSession(ledger, tid) for tid in keys}
    for s in sessions.values():
        s.state = s.state.READY
    steps = dict.fromkeys(("decode", "receive", "apply", "rows", "commit", "ack"), 0.0)
    cpu, wall = time.thread_time, time.perf_counter
    kind_text = {k: k.value for k in EventKind}
    gcc = _GcClock()
    if frozen:  # as meibo hq serve does once the ledger is loaded (cli/sync.py freeze_startup_heap)
        gc.collect()
        gc.freeze()
    gc.callbacks.append(gcc)
    total = 0
    try:
        for tid, data in frames:
            t0 = cpu()
            f = decode(data)
            t1 = cpu()
            res = sessions[tid].receive(f)
            t2 = cpu()
            ledger.apply_all(res.to_commit)
            t3 = cpu()
            rows = [(ev.terminal, ev.seq, ev.hlc, kind_text[ev.kind], ev.encode(), 0.0) for ev in res.to_commit]
            t4, w4 = cpu(), wall()
            store.db.commit(rows, [])
            w5 = wall()
            t5 = cpu()
            sessions[tid].ack_frame(res.pending_ack)  # type: ignore[arg-type]
            t6 = cpu()
            steps["decode"] += t1 - t0
            steps["receive"] += t2 - t1
            steps["apply"] += t3 - t2
            steps["rows"] += t4 - t3
            steps["commit"] += w5 - w4
            steps["ack"] += t6 - t5
            total += len(res.to_commit)
    finally:
        gc.callbacks.remove(gcc)
        if frozen:
            gc.unfreeze()
        store.close()
    rows = [(ev.terminal, ev.seq, ev.hlc, ev.kind.value, ev.encode(), 0.0)
            for _, data in frames for ev in decode(data).events]
    conn = connect(workdir / "floor.db", migrations=[])
    conn.execute("CREATE TABLE events (hq_order INTEGER PRIMARY KEY, terminal TEXT NOT NULL, seq INTEGER NOT NULL,"
                 " hlc INTEGER NOT NULL, kind TEXT NOT NULL, body BLOB NOT NULL, received_at REAL NOT NULL,"
                 " UNIQUE (terminal, seq))")
    t0 = wall()
    for i in range(0, len(rows), 500):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO events(terminal, seq, hlc, kind, body, received_at) VALUES(?,?,?,?,?,?)",
                         rows[i:i + 500])
        conn.execute("COMMIT")
    floor = wall() - t0
    conn.close()
    us = {k: round(v * 1e6 / total, 2) for k, v in steps.items()}
    spent = sum(steps.values())
    return {"name": "ingest_steps", "gc": "frozen as hq serve" if frozen else "fresh process", "events": total,
            "us_per_event": us, "gc_us_per_event": round(gcc.total * 1e6 / total, 2),
            "sum_us_per_event": round(spent * 1e6 / total, 2), "floor_us_per_event": round(floor * 1e6 / total, 2),
            "ratio_to_floor": round(floor / spent, 3)}


def cold_start_steps(workdir: Path, n: int) -> dict[str, Any]:
    from bench.restart import build

    hq = build(workdir / "restart", n)
    conn = sqlite3.connect(hq.hq_db)
    try:
        cpu = time.thread_time
        t0 = cpu()
        bodies = [b for (b,) in conn.execute("SELECT body FROM events ORDER BY hq_order")]
        t1 = cpu()
        for b in bodies:
            orjson.loads(b)
        t2 = cpu()
    finally:
        conn.close()
    chunks = [bodies[i:i + 2048] for i in range(0, len(bodies), 2048)]
    store = HqStore(hq)
    try:
        gc.disable()  # as HqStore.load replays
        t3 = cpu()
        for c in chunks:
            _parse(c)
        t4 = cpu()
        ledger = store.load()  # the real thing: read, parse and check, apply
        t5 = cpu()
        gc.enable()
    finally:
        store.close()
    fresh = type(ledger)(ledger.election_id)
    store = HqStore(hq)
    try:
        store.screening(fresh)
        fresh.decided = store.decisions()
        store.refresh_registry(fresh)
        gc.disable()
        t6 = cpu()
        for c in chunks:
            replay(fresh, c)
        t7 = cpu()
        gc.enable()
    finally:
        store.close()
    assert fresh.order == ledger.order == n
    per = 1e6 / n
    read, parse_floor = (t1 - t0) * per, (t2 - t1) * per
    parse, rep = (t4 - t3) * per, (t7 - t6) * per
    return {"name": "cold_start_steps", "events": n, "read_us": round(read, 2), "parse_and_check_us": round(parse, 2),
            "apply_us": round(rep - parse, 2), "load_us": round((t5 - t4) * per, 2),
            "floor_us": round(read + parse_floor, 2), "floor_loads_us": round(parse_floor, 2),
            "ratio_load_to_floor": round((t5 - t4) / (t2 - t0), 2)}


def run() -> list[dict[str, Any]]:
    n = int(os.environ.get("MEIBO_BENCH_STEPS_EVENTS", "100000"))
    random.seed(0)
    out = []
    with tempfile.TemporaryDirectory(prefix="meibo-bench-steps-") as d:
        for i, frozen in enumerate((False, True)):
            w = Path(d) / f"ingest{i}"
            w.mkdir()
            out.append(ingest_steps(w, frozen))
        out.append(cold_start_steps(Path(d), n))
    for r in out:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()), flush=True)
    return out


if __name__ == "__main__":
    run()
