"""PostgreSQL benchmarks (issue 18), each against a floor measured in the same run, on real servers
from tooling/pgcluster.py: a primary whose synchronous standby must flush every commit.

- HQ ingest on PostgreSQL: bench/sync.py's verified ingest (codec, signature, chain; one commit
  per batch) with HqStore on the primary through a multi-host DSN, vs a bare binary ``COPY`` of
  the same rows into the same table shape, one transaction per 500 rows, with the same
  durability (``synchronous_commit = on``, the same standby): events/s of both and the ratio;
- failover of the database: from SIGKILL of the primary to the first commit HqStore gets accepted
  on the promoted standby through the same multi-host DSN (``pg_ctl promote`` by hand, as
  docs/operations-pg.md says), then the ledger's rebuild from the new primary (what HqNode does
  after a failed commit before it answers again). Floor: ``pg_ctl promote`` alone;
- take-over by the standby HQ node (hq/standby.py, ``meibo hq serve --standby``): from the end
  of the leading node's lock session (what its death does) to the standby holding the lock,
  having claimed the store, with its warm ledger caught up. Floor: a cold ``load()`` of the
  same ledger. Neither of these two has a terminal link: no online verdict is timed;
- both measured at two ledger sizes, each on a pair of its own, to show what depends on the
  ledger's size;
- standby lag under a steady ingest load (500-event commits on a fixed schedule at half the
  ingest rate just measured, for 5 s): pg_stat_replication's write/flush/replay lag and the bytes
  from the primary's current WAL position to the standby's replay, sampled every 50 ms, against
  the same samples while the bare COPY sends the same rows on the same schedule;
- failover to the first online verdict (bench/pg_verdict.py): real HQ processes and a station,
  from the kill of the primary and the leading HQ to a verdict from the new leader, at 10k and
  200k events; ``MEIBO_BENCH_PG_ONLY=verdict`` runs only that one.

The ingest is run 3 times (``MEIBO_BENCH_INGEST_RUNS``; medians, and each run's own ratio);
``MEIBO_BENCH_PG_EVENTS`` (default 40,000, less the 500 held back for the commit after the kill)
sets the large ledger of the failover, the small one is 1,000 events.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from appliance.dirs import HqDir
from bench import pg_verdict
from bench.sync import _frames, _p
from ground.clock import FixedClock
from ground.model import StationId, TerminalId
from hq.session import HqSession
from hq.store import HqStore
from hq.standby import LeadLock, Standby, StandbySettings
from hq.store_db import StoreUnreachable
from hq.terminals import hq_init
from sync_protocol.codec import decode
from tests.builders import EARLY_NOON, election_toml
from tooling.pgcluster import PgNode, multi_host_dsn, new_base, remove_base, start_primary, start_standby

_FLOOR_TABLE = ("CREATE TABLE events (hq_order bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " terminal text NOT NULL, seq bigint NOT NULL, hlc bigint NOT NULL, kind text NOT NULL,"
                " body bytea NOT NULL, received_at double precision NOT NULL, UNIQUE (terminal, seq))")
_EVENT_TYPES = ["text", "int8", "int8", "text", "bytea", "float8"]
_T = TypeVar("_T")
_RETRY_S = 0.02  # between commits refused while no node accepts writes


class _LagSampler:
    """Samples the primary's pg_stat_replication for one standby every 50 ms on a thread of its
    own (its own connection) while a load runs in the caller's."""

    def __init__(self, primary: PgNode, standby: str) -> None:
        self.primary, self.standby = primary, standby
        self.samples: list[tuple[float | None, float | None, float | None, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        sql = ("SELECT extract(epoch FROM write_lag) * 1000, extract(epoch FROM flush_lag) * 1000,"
               " extract(epoch FROM replay_lag) * 1000, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)"
               " FROM pg_stat_replication WHERE application_name = %s")
        with self.primary.connect("postgres") as conn:
            while not self._stop.wait(0.05):
                row = conn.execute(sql, (self.standby,)).fetchone()
                if row is not None:
                    w, f, r, lsn = row
                    self.samples.append((_f(w), _f(f), _f(r), int(lsn or 0)))

    def summary(self) -> dict[str, Any]:
        def col(i: int) -> list[float]:
            return [float(v) for s in self.samples if (v := s[i]) is not None]

        out: dict[str, Any] = {"samples": len(self.samples)}
        for i, name in enumerate(["write_lag_ms", "flush_lag_ms", "replay_lag_ms", "replay_behind_bytes"]):
            v = col(i)
            out[name] = (round(_p(v, 0.5), 2), round(_p(v, 0.99), 2)) if v else None
        return out


def _f(v: object) -> float | None:
    return None if v is None else float(v)  # type: ignore[arg-type]


def _pair(base: Path) -> tuple[PgNode, PgNode]:
    primary = start_primary(base, "pg1", synchronous_standby="pg2")
    return primary, start_standby(primary, base, "pg2")


def _hq(workdir: Path) -> HqDir:
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "election.toml"
    cfg.write_text(election_toml(election_id="bench"), "utf-8")
    hq = HqDir(workdir / "hq")
    hq_init(hq.root, cfg, FixedClock(EARLY_NOON))
    return hq


class _Ingest:
    """bench/sync.py's loop on one store: receive (verify), apply to the ledger, commit,
    acknowledge, one commit per frame (500 events)."""

    def __init__(self, store: HqStore, keys: dict[str, bytes]) -> None:
        self.store = store
        self.ledger = store.load()
        for tid, pub in keys.items():
            self.ledger.register(TerminalId(tid), StationId(f"S{int(tid[-3:]):02d}"), pub)
        self.sessions = {tid: HqSession(self.ledger, TerminalId(tid)) for tid in keys}
        for s in self.sessions.values():
            s.state = s.state.READY

    def frame(self, frame: tuple[str, bytes], retry: bool = False) -> int:
        """One frame; with ``retry`` its commit is tried again while no node accepts writes, as
        HqNode's committer does."""
        tid, data = frame
        res = self.sessions[tid].receive(decode(data))
        self.ledger.apply_all(res.to_commit)  # as the server does
        while True:
            try:
                self.store.commit(res.to_commit)
                break
            except StoreUnreachable:
                if not retry:
                    raise
                time.sleep(_RETRY_S)
        self.sessions[tid].ack_frame(res.pending_ack)  # type: ignore[arg-type]
        return len(res.to_commit)


def _paced(frames: list[_T], send: Callable[[_T], object], interval_s: float) -> None:
    """``send`` each item on a fixed schedule, one per ``interval_s`` (a steady load, not a burst)."""
    t0 = time.perf_counter()
    for i, item in enumerate(frames):
        delay = t0 + i * interval_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(item)


def _rows(frames: list[tuple[str, bytes]]) -> list[list[tuple[object, ...]]]:
    """The frames' events as the events table's rows, one list per frame."""
    return [[(ev.terminal, ev.seq, ev.hlc, ev.kind.value, ev.encode(), 0.0) for ev in decode(data).events]
            for _, data in frames]


class _Floor:
    """The same rows into the same table shape by a bare binary COPY, one transaction per frame,
    ``synchronous_commit = on`` on the same primary and standby."""

    def __init__(self, primary: PgNode, dbname: str) -> None:
        self.conn = psycopg.connect(primary.create_database(dbname), autocommit=True)
        self.conn.execute("SET synchronous_commit = on")
        self.conn.execute(_FLOOR_TABLE)

    def batch(self, rows: list[tuple[object, ...]]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            with cur.copy("COPY events (terminal, seq, hlc, kind, body, received_at) "
                          "FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(_EVENT_TYPES)
                for row in rows:
                    cp.write_row(row)

    def close(self) -> None:
        self.conn.close()


def _failover(primary: PgNode, standby: PgNode, ingest: _Ingest, frame: tuple[str, bytes],
              ledger_events: int) -> dict[str, Any]:
    """SIGKILL the primary, promote the standby by hand, commit ``frame`` through the store's
    multi-host DSN (retried while no node accepts writes), then rebuild the ledger from the new
    primary as HqNode's reload does."""
    t0 = time.perf_counter()
    primary.kill()
    t_killed = time.perf_counter()
    standby.promote()
    t_promoted = time.perf_counter()
    ingest.frame(frame, retry=True)
    t_commit = time.perf_counter()
    ledger = ingest.store.load()
    t_loaded = time.perf_counter()
    del ledger  # its content is the contract test's; here only the time of the rebuild counts
    promote_s = t_promoted - t_killed
    to_commit = t_commit - t0
    return {"name": "failover", "ledger_events": ledger_events,
            "kill_to_first_commit_s": round(to_commit, 3), "promote_s": round(promote_s, 3),
            "ledger_reload_s": round(t_loaded - t_commit, 3),
            "kill_to_ledger_ready_s": round(t_loaded - t0, 3),
            "ratio_commit_to_promote": round(to_commit / promote_s, 2),
            "scope": "database and the leading node's store (no terminal link: no online verdict timed)",
            "floor": "pg_ctl promote alone (kill → accepts writes)"}


def _ingest_vs_floor(work: Path, primary: PgNode, standby: PgNode, runs: int) -> dict[str, Any]:
    """``runs`` times: HqStore ingest into a fresh database, then the bare COPY of the same rows
    into another (this machine is shared and noisy: medians, and each run's own ratio)."""
    each = []
    for i in range(runs):
        frames, keys = _frames(20, 2000, "bench", prefix=f"R{i}")
        primary.create_database(f"ingest{i}")
        store = HqStore(_hq(work / f"ingest{i}"), store_url=multi_host_dsn([primary, standby], f"ingest{i}"))
        try:
            ingest = _Ingest(store, keys)
            t0 = time.perf_counter()
            total = sum(ingest.frame(f) for f in frames)
            rate = total / (time.perf_counter() - t0)
        finally:
            store.close()
        floor = _Floor(primary, f"floor{i}")
        rows = _rows(frames)
        t0 = time.perf_counter()
        for batch in rows:
            floor.batch(batch)
        floor_rate = sum(map(len, rows)) / (time.perf_counter() - t0)
        floor.close()
        each.append((round(rate), round(floor_rate), round(rate / floor_rate, 3)))
    return {"name": "hq_ingest_pg", "runs": runs, "events": total,
             "events_per_s": round(statistics.median(e[0] for e in each)),
             "floor_events_per_s": round(statistics.median(e[1] for e in each)),
             "ratio_to_floor": round(statistics.median(e[2] for e in each), 3), "each": each,
             "durability": "synchronous_commit=on, synchronous standby pg2",
             "floor": "bare binary COPY of the same rows, one transaction per 500"}


def _steady_lag(work: Path, primary: PgNode, standby: PgNode, events_per_s: float,
                seconds: float) -> list[dict[str, Any]]:
    """The standby's lag while HQ ingests at a steady ``events_per_s`` (500-event commits on a
    fixed schedule), then while the bare COPY sends the same rows on the same schedule."""
    n_frames = max(4, int(events_per_s * seconds / 500))
    frames, keys = _frames(20, -(-n_frames // 20) * 500, "bench", prefix="L")
    frames = frames[:n_frames]
    interval = 500 / events_per_s
    primary.create_database("steady")
    store = HqStore(_hq(work / "steady"), store_url=multi_host_dsn([primary, standby], "steady"))
    try:
        ingest = _Ingest(store, keys)
        with _LagSampler(primary, standby.name) as lag_hq:
            _paced(frames, ingest.frame, interval)
    finally:
        store.close()
    floor = _Floor(primary, "steadyfloor")
    with _LagSampler(primary, standby.name) as lag_floor:
        _paced(_rows(frames), floor.batch, interval)
    floor.close()
    load = f"{round(events_per_s)} events/s for {seconds:g} s, (p50, p99)"
    return [{"name": "standby_lag", "load": f"HQ ingest {load}", **lag_hq.summary()},
            {"name": "standby_lag_floor", "load": f"bare COPY {load}", **lag_floor.summary()}]


def _takeover(work: Path, leader: HqStore, ledger_events: int) -> dict[str, Any]:
    """The standby HQ node (hq/standby.py) taking over from a leading node that is gone: the
    leader holds the lead lock as HqNode does, a Standby keeps its ledger warm, the leader's
    session ends (what its death does to the lock), and the time runs until the standby has
    claimed the store and holds the ledger it decides with. Floor: a cold ``load()`` of the same
    ledger, what a node started by hand would read first. No terminal link: no verdict is sent."""
    lock = LeadLock(leader.url.dsn)
    assert lock.take()
    standby = Standby(HqDir(work / "hq"), store_url=leader.url.dsn)
    t0 = time.perf_counter()
    lock.close()  # the session ends: the server releases the lock, as when the process dies
    asyncio.run(standby.wait_for_lead())
    store = HqStore(HqDir(work / "hq"), store_url=leader.url.dsn)
    try:
        store.claim("bench-standby")
        standby.take_over(store)
        took = time.perf_counter() - t0
        t1 = time.perf_counter()
        store.load()
        cold = time.perf_counter() - t1
    finally:
        store.close()
        standby.lock.close()
    return {"name": "standby_takeover", "ledger_events": ledger_events, "lock_free_to_leading_s": round(took, 3),
            "floor_cold_load_s": round(cold, 3), "ratio_to_cold_load": round(took / cold, 2),
            "standby_poll_s": StandbySettings().poll_s,
            "scope": "lock released → claimed with a warm ledger; a real take-over waits up to one more"
                     " poll (the first poll here finds the lock free); no terminal link, no verdict sent"}


def _failover_pair(work: Path, n_terminals: int, per_terminal: int) -> list[dict[str, Any]]:
    """A pair of its own, a ledger of ``n_terminals × per_terminal`` events less the last frame,
    which is committed after the primary is killed and the standby promoted; then, on the
    promoted node, the standby HQ node's take-over."""
    base = new_base()
    try:
        primary, standby = _pair(base)
        frames, keys = _frames(n_terminals, per_terminal, "bench", prefix="F")
        held, frames = frames[-1], frames[:-1]
        store = HqStore(_hq(work), store_url=multi_host_dsn([primary, standby]))
        try:
            ingest = _Ingest(store, keys)
            total = sum(ingest.frame(f) for f in frames)
            out = [_failover(primary, standby, ingest, held, total)]
            out.append(_takeover(work, ingest.store, total + len(decode(held[1]).events)))
            return out
        finally:
            store.close()
    finally:
        remove_base(base)
def run() -> list[dict[str, Any]]:
    if os.environ.get("MEIBO_BENCH_PG_ONLY") == "verdict":  # only the failover to the first online verdict
        return pg_verdict.run()
    runs = int(os.environ.get("MEIBO_BENCH_INGEST_RUNS", "3"))
    large = int(os.environ.get("MEIBO_BENCH_PG_EVENTS", "40000"))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="meibo-bench-pg-") as d:
        work = Path(d)
        base = new_base()
        try:
            primary, standby = _pair(base)
            results.append(_ingest_vs_floor(work, primary, standby, runs))
            # half the rate just measured: a steady load HQ keeps up with, not a burst
            results += _steady_lag(work, primary, standby, results[0]["events_per_s"] / 2, 5.0)
        finally:
            remove_base(base)
        large_runs = _failover_pair(work / "large", 20, large // 20)
        small_runs = _failover_pair(work / "small", 1, 1500)
    results += large_runs + small_runs
    fo_large, fo_small = large_runs[0], small_runs[0]
    results.append({"name": "failover_size_dependence",
                    "ledger_events": (fo_small["ledger_events"], fo_large["ledger_events"]),
                    "kill_to_first_commit_ratio_large_to_small": round(
                        fo_large["kill_to_first_commit_s"] / fo_small["kill_to_first_commit_s"], 2),
                    "ledger_reload_ratio_large_to_small": round(
                        fo_large["ledger_reload_s"] / max(fo_small["ledger_reload_s"], 1e-6), 2),
                    "standby_takeover_ratio_large_to_small": round(
                        large_runs[1]["lock_free_to_leading_s"] / small_runs[1]["lock_free_to_leading_s"], 2)})
    for r in results:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))
    # the whole path a poll worker waits through: kill → the first online verdict (bench/pg_verdict.py)
    return results + pg_verdict.run()


if __name__ == "__main__":
    run()
