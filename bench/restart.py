"""HQ restart: how long until a restarted HQ would accept a connection, against a floor.

During an early-voting fortnight HQ may hold millions of events; while it restarts (after a
crash, an update, a power cut) every terminal answers オフライン受付. An ``HqNode`` rebuilds its
ledger from hq.db at start (``HqStore.load``: read, decode, verify the chains, apply), so the
start time grows with the events stored. Measured here, for each size (100k and 1M events by
default, ``MEIBO_BENCH_RESTART_SIZES``), 3 runs each (``MEIBO_BENCH_RESTART_RUNS``), medians:

- start: ``HqNode(hq)`` (registry, TLS context, CRL keeper, store, ledger replay): everything
  before the listening socket is bound;
- floor, in the same run: a bare ``SELECT body FROM events ORDER BY hq_order`` over the same rows
  plus ``orjson.loads`` of each (what any replay must at least do), and the ratio start / floor;
- ingest after the load (the largest size only), with and without ``gc.freeze()`` on the loaded
  ledger, in the same run and in alternating order: what ``meibo hq serve`` gains from freezing
  the objects it keeps for the whole election (see cli/sync.py ``_cmd_serve``).

The stored events are a day-like mix over 120 terminals: check-ins of four contests, a double
vote attempt answered 投票済 and withheld, offline double votes (alerts), オフライン受付 markers,
voids, lookups, hourly counts and HQ's own 不在者投票.

Measured on the 2-core build machine (medians of 3; start / floor / ratio):
- before (event-by-event decode and apply, GC on): 100k 4.64 s / 0.36 s / 12.8×;
  1M 51.9 s / 3.76 s / 13.8×; ingest after a 1M load 6,834/s (5,379/s frozen);
- after (chunks, ``decode_batch``, ``apply_all``, GC off while replaying, ``BallotMap``):
  100k 2.56 s / 0.32 s / 8.0×; 1M 26.1 s / 3.24 s / 8.1×; ingest after a 1M load 13,683/s,
  28,496/s with ``gc.freeze()``.
What is left is ``decode_batch`` (~8.5 µs an event) and ``apply_all`` (~11 µs an event).
- issue 20 (goal ≤ 3×): ``replay`` (hq/ledger/replay.py: the same checks, no ``Event`` for a
  plain check-in) in place of decode_batch + apply_all, and CPU time printed beside wall time:
  the machine is shared by several agents (load average ~10 on 2 cores while measured) and
  its wall ratios swing from run to run. 100k events, the old and new code run side by side
  (medians of 3): before 21.7 s / 1.60 s wall = 11.3×, CPU 3.22 s / 0.26 s = 12.4×; after
  15.0 s / 1.70 s = 8.9×, CPU 2.44 s / 0.32 s = 8.0×. Still short of 3×: bench steps gives what
  is left per event (CPU, same run): read ~1 µs, parse and check ~10 µs (orjson.loads ~2 of
  it), apply ~12 µs, against a floor of ~3 µs; the apply is mostly making the ledger's own
  rows (a minimal loop making only them costs ~7.5 µs here).

Run: ``.venv/bin/python -m bench restart``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from ground.clock import FixedClock
from appliance.dirs import HqDir
from ground.events import Event, EventKind
from ground.model import HQ_TERMINAL, TerminalId
from hq.store import HqStore
from hq.terminals import hq_init
from hq.server import HqNode
from bench.sync import _frames
from sync_protocol.codec import decode
from hq.session import HqSession
from tests.builders import EARLY_NOON, election_toml

CONTESTS = ["shu", "hirei", "shinsa", "governor"]
HLC0 = 1_807_000_000_000 << 16
ELECTION = "bench-restart"


def _hq(root: Path) -> tuple[HqDir, list[tuple[str, str]]]:
    root.mkdir(parents=True)
    cfg = root / "election.toml"
    cfg.write_text(election_toml(election_id=ELECTION), "utf-8")
    hq = HqDir(root / "hq")
    hq_init(hq.root, cfg, FixedClock(EARLY_NOON))
    terms = [(f"R-{i:02d}-{k}", f"S{i:02d}") for i in range(60) for k in (1, 2)]
    reg = [{"terminal": t, "station": s, "device_pub": "00" * 32, "tls_serials": []} for t, s in terms]
    (hq.root / "terminals.json").write_text(json.dumps(reg), "utf-8")
    return hq, terms


def events(n: int, terms: list[tuple[str, str]], rnd: random.Random) -> list[Event]:
    """n journal events in an order HQ could have received them (each journal in seq order)."""
    seqs = {t: 0 for t, _ in terms}
    seqs[HQ_TERMINAL] = 0
    last_checkin: dict[str, int] = {}
    out: list[Event] = []
    voter = 10_000_000

    def add(t: str, station: str, kind: EventKind, data: dict[str, Any]) -> int:
        seqs[t] += 1
        out.append(Event(kind, seqs[t], HLC0 + (len(out) << 16), TerminalId(t), data))
        return seqs[t]

    while len(out) < n:
        t, station = terms[rnd.randrange(len(terms))]
        r = rnd.random()
        if r < 0.01 and t in last_checkin:  # 取消
            add(t, station, EventKind.VOID, {"ref": last_checkin.pop(t), "reason": "人違い", "clerk": "c1"})
        elif r < 0.02:  # came back: HQ said 投票済 within the budget, nothing handed out
            old = str(rnd.randrange(10_000_000, voter + 1))
            ref = add(t, station, EventKind.CHECKIN, {"station": station, "clerk": "c1", "voter": old,
                                                      "contests": CONTESTS})
            add(t, station, EventKind.WITHHELD, {"ref": ref, "contests": CONTESTS})
        elif r < 0.023:  # came back while the station was offline: a double vote (alert)
            old = str(rnd.randrange(10_000_000, voter + 1))
            ref = add(t, station, EventKind.CHECKIN, {"station": station, "clerk": "c1", "voter": old,
                                                      "contests": CONTESTS[:2]})
            add(t, station, EventKind.PROVISIONAL, {"ref": ref})
        elif r < 0.05:
            add(t, station, EventKind.LOOKUP, {"voter": str(voter), "via": "scan", "clerk": "c1"})
        elif r < 0.055:
            add(t, station, EventKind.COUNT, {"contest": CONTESTS[rnd.randrange(4)], "hour": 10, "issued": 37})
        elif r < 0.057:
            voter += 1
            add(HQ_TERMINAL, "HQ", EventKind.ABSENTEE, {"voter": str(voter), "contests": CONTESTS, "station": "HQ"})
        else:
            voter += 1
            last_checkin[t] = add(t, station, EventKind.CHECKIN, {"station": station, "clerk": "c1",
                                                                  "voter": str(voter), "contests": CONTESTS})
            if r > 0.98:  # オフライン受付: no verdict within the budget
                add(t, station, EventKind.PROVISIONAL, {"ref": last_checkin[t]})
    return out[:n]


def build(root: Path, n: int) -> HqDir:
    hq, terms = _hq(root)
    evs = events(n, terms, random.Random(2027))
    st = HqStore(hq)
    try:
        for i in range(0, len(evs), 50_000):
            st.commit(evs[i:i + 50_000], now=0.0)
    finally:
        st.close()
    return hq


def floor_s(hq: HqDir, cpu: list[float] | None = None) -> float:
    """What any replay must do at least: read every stored body in HQ's order and parse it.
    Wall time; its CPU time is appended to ``cpu`` when given."""
    conn = sqlite3.connect(hq.hq_db)
    try:
        loads = orjson.loads
        c0, t0 = time.process_time(), time.perf_counter()
        for (body,) in conn.execute("SELECT body FROM events ORDER BY hq_order"):
            loads(body)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
        return time.perf_counter() - t0
    finally:
        conn.close()


def start_s(hq: HqDir, cpu: list[float] | None = None) -> tuple[float, Any]:
    """``HqNode(hq)``'s wall time (and its CPU time appended to ``cpu``), and the node."""
    c0, t0 = time.process_time(), time.perf_counter()
    node = HqNode(hq)
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    return time.perf_counter() - t0, node


def _stop(node: Any) -> None:
    asyncio.run(node.stop())


def ingest_rate(node: Any, prefix: str, seed: int) -> float:
    """Events/s of verified, durable ingest (as bench sync) into a node holding a loaded ledger."""
    frames, keys = _frames(20, 2000, ELECTION, prefix=prefix, seed=seed)
    ledger, store = node.ledger, node.store
    for tid, pub in keys.items():
        ledger.register(tid, "S" + tid[-2:], pub)
    sessions = {tid: HqSession(ledger, tid) for tid in keys}
    for s in sessions.values():
        s.state = s.state.READY
    total = 0
    t0 = time.perf_counter()
    for tid, data in frames:
        res = sessions[tid].receive(decode(data))
        ledger.apply_all(res.to_commit)
        store.commit(res.to_commit)
        sessions[tid].ack_frame(res.pending_ack)  # type: ignore[arg-type]
        total += len(res.to_commit)
    return total / (time.perf_counter() - t0)


def run() -> dict[str, Any]:
    sizes = [int(s) for s in os.environ.get("MEIBO_BENCH_RESTART_SIZES", "100000,1000000").split(",")]
    runs = int(os.environ.get("MEIBO_BENCH_RESTART_RUNS", "3"))
    out: dict[str, Any] = {"runs": runs, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="meibo-bench-restart-") as d:
        for n in sizes:
            t0 = time.perf_counter()
            hq = build(Path(d) / f"n{n}", n)
            print(f"   {n:,} events written to hq.db in {time.perf_counter() - t0:.1f} s", flush=True)
            pristine = hq.hq_db.with_name("pristine.db")
            shutil.copyfile(hq.hq_db, pristine)
            starts: list[float] = []
            floors: list[float] = []
            ratios: list[float] = []
            plain: list[float] = []
            frozen: list[float] = []
            start_cpu: list[float] = []  # CPU time (process_time): the shared machine's other load
            floor_cpu: list[float] = []  # does not count in it, as it does in the wall time
            for i in range(runs):
                for extra in ("-wal", "-shm"):  # the ingest of the run before wrote to hq.db
                    hq.hq_db.with_name(hq.hq_db.name + extra).unlink(missing_ok=True)
                shutil.copyfile(pristine, hq.hq_db)
                gc.collect()
                f = floor_s(hq, floor_cpu)
                s, node = start_s(hq, start_cpu)
                assert node.ledger.order == n, (node.ledger.order, n)
                if n == sizes[-1]:  # ingest on top of the loaded ledger, without and with gc.freeze()
                    order = [False, True] if i % 2 == 0 else [True, False]
                    for freeze in order:
                        if freeze:
                            gc.collect()
                            gc.freeze()
                        rate = ingest_rate(node, f"I{i}{int(freeze)}-", 100 * i + int(freeze))
                        if freeze:
                            gc.unfreeze()
                        (frozen if freeze else plain).append(rate)
                _stop(node)
                del node
                starts.append(s)
                floors.append(f)
                ratios.append(s / f)
                print(f"   run {i + 1}: start {s:.2f} s, floor {f:.2f} s, ratio {s / f:.2f}; CPU {start_cpu[-1]:.2f} s"
                      f" / {floor_cpu[-1]:.2f} s = {start_cpu[-1] / floor_cpu[-1]:.2f}", flush=True)
            res: dict[str, Any] = {"events": n, "start_s": round(statistics.median(starts), 3),
                                   "floor_s": round(statistics.median(floors), 3),
                                   "ratio_to_floor": round(statistics.median(ratios), 2),
                                   "each": [(round(a, 3), round(b, 3)) for a, b in zip(starts, floors)],
                                   "cpu_start_s": round(statistics.median(start_cpu), 3),
                                   "cpu_floor_s": round(statistics.median(floor_cpu), 3),
                                   "cpu_ratio_to_floor": round(statistics.median(
                                       a / b for a, b in zip(start_cpu, floor_cpu)), 2)}
            if plain:
                res["ingest_after_load_per_s"] = round(statistics.median(plain))
                res["ingest_after_load_frozen_per_s"] = round(statistics.median(frozen))
                res["ingest_each"] = [(round(a), round(b)) for a, b in zip(plain, frozen)]
            out["sizes"][n] = res
            print(f"   {n:>9,} events: HQ start {res['start_s']:.2f} s (median of {runs}), floor "
                  f"{res['floor_s']:.2f} s, ratio {res['ratio_to_floor']:.2f} × (CPU time: {res['cpu_start_s']:.2f} s / "
                  f"{res['cpu_floor_s']:.2f} s = {res['cpu_ratio_to_floor']:.2f} ×)", flush=True)
            if plain:
                print(f"   ingest after the load: {res['ingest_after_load_per_s']:,}/s plain, "
                      f"{res['ingest_after_load_frozen_per_s']:,}/s with gc.freeze() (medians)", flush=True)
    return out


if __name__ == "__main__":
    run()
