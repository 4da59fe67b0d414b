"""One process of the fleet benchmark's terminals (端末群の負荷試験: ``tooling/fleet.py`` drives it).

Owns a slice of the fleet: for each terminal a real terminal directory (``enroll_local``: its own
device key and CA-issued TLS client certificate, an encrypted store, the station opened), a real
``SyncAgent`` on it, and its own in-process ``FaultProxy`` with the terminal's LTE profile between
the agent and HQ (one radio per terminal: rates and blackouts are per link). It runs the poll
workers' arrivals (a Poisson process per terminal), the reconnect storm's outage, backlog and
return, and reports raw observations (latencies, counts, byte counters, times); ``fleet.py`` turns
them into figures. Commands come over a socket pair (``multiprocessing.connection``), one at a time.

May import appliance, sync_protocol, hq (``enroll_local`` only, the set-up HQ's office does) and
ground; imported by ``tooling/fleet.py`` only. Hand-written because no library drives many
sync agents over emulated links; the agents, proxies and stores are the shipped ones.

Voter ids say what a check-in was for (``voter_id``): 1… the load, 2… the storm's backlog,
3… new check-ins during the storm; a terminal holds only its own voters (a voted flag needs no roll
row), and counting the 2… flags it applies tells when it holds every other terminal's backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import fcntl
import logging
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from appliance import atrest
from appliance.dirs import TerminalDir
from appliance.freshness import HEAD_DIR_ENV
from appliance.store import Store
from appliance.terminal import Terminal
from ground.clock import FixedClock
from ground.model import Sex, Status
from hq.terminals import enroll_local
from sync_protocol.client import SyncAgent, SyncSettings
from sync_protocol.fault_proxy import FaultProxy
from sync_protocol.lte_link import profile_named

PIN = "2468"
LOAD, BACKLOG, STORM = 1, 2, 3  # the first digit of a voter id: what the check-in was for
_COLS = ("voter_id", "district", "name", "kana", "kana_key", "birth_date", "sex", "address", "status")


def voter_id(phase: int, terminal_index: int, n: int) -> str:
    return f"{phase}{terminal_index:04d}{n:06d}"


@dataclass(frozen=True)
class TerminalSpec:
    tid: str
    station: str
    index: int
    profile: str
    seed: int


@dataclass(frozen=True)
class WorkerSpec:
    root: Path  # this worker's terminal directories (tmpfs: every real terminal has its own disk)
    hq_root: Path
    terminals: tuple[TerminalSpec, ...]
    voters: dict[int, int]  # phase → voters each terminal holds for it
    clock_iso: str  # the terminals' clock (a moment their stations are open)
    budget_s: float
    backoff_max_s: float
    seed: int


class FleetAgent(SyncAgent):
    """The shipped agent, counting the storm backlog's voted flags it applies (other terminals')."""

    backlog_flags = 0

    def apply_flags(self, flags: list[tuple[Any, ...]], cursor: int | None, mark: str = "") -> None:
        super().apply_flags(flags, cursor, mark)
        # HQ sends each flag once per link and resumes from the durable cursor (applied in the
        # same transaction as the flags), so counting here counts each flag once
        self.backlog_flags += sum(1 for f in flags if int(f[3]) > 0 and str(f[1])[:1] == str(BACKLOG))


@dataclass
class _Slot:
    spec: TerminalSpec
    tdir: TerminalDir
    term: Terminal | None = None
    proxy: FaultProxy | None = None
    agent: FleetAgent | None = None
    task: asyncio.Task[None] | None = None
    used: dict[int, int] = field(default_factory=lambda: {LOAD: 0, BACKLOG: 0, STORM: 0})


@dataclass
class _Tally:
    """Raw observations of one phase, per profile; sent to the coordinator as plain data."""

    offered: int = 0
    attempted: int = 0
    answered: int = 0  # HQ's verdict within the budget
    provisional: int = 0
    offline_at_start: int = 0  # the agent had no link when the check-in began (not HQ's fault)
    exhausted: int = 0
    errors: list[str] = field(default_factory=list)
    ballots: int = 0
    events: int = 0  # journal entries written (check-ins and their outcome entries)
    lat: dict[str, list[float]] = field(default_factory=dict)  # profile → seconds (HQ's verdicts, begun online)
    lag: list[float] = field(default_factory=list)  # arrival → start (a queue at the desk)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.clock = FixedClock(datetime.fromisoformat(spec.clock_iso))
        self.slots = [_Slot(t, TerminalDir(spec.root / t.tid)) for t in spec.terminals]
        self.rng = random.Random(spec.seed)
        self.stopping = False
        self.lags: list[float] = []
        self._tick: asyncio.Task[None] | None = None

    # --- set-up (before HQ serves) -------------------------------------------------------
    def setup(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        for s in self.slots:
            # one enroll-local at a time across the workers: two at once race on the CA's register
            # of issued serials (pki/issued.json is replaced through one fixed temporary name)
            with open(self.spec.root.parent / "enroll.lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                enroll_local(self.spec.hq_root, s.spec.tid, s.spec.station, s.tdir.root, self.clock, pin=PIN)
            atrest.open_station(s.tdir, PIN)
            rows = [_voter_row(voter_id(phase, s.spec.index, n))
                    for phase, count in self.spec.voters.items() for n in range(count)]
            store = Store(s.tdir.store_path)
            try:
                with store.atomic() as conn:
                    conn.executemany(f"INSERT INTO voters({','.join(_COLS)}) VALUES({','.join('?' * len(_COLS))})",
                                     rows)
            finally:
                store.close()
        return {"setup_s": time.perf_counter() - t0}

    # --- agents ---------------------------------------------------------------------------
    async def start(self, hq_port: int, online_timeout_s: float) -> dict[str, Any]:
        settings = SyncSettings(verdict_budget_s=self.spec.budget_s, backoff_max_s=self.spec.backoff_max_s)
        for s in self.slots:
            s.proxy = FaultProxy(("127.0.0.1", hq_port), rng=random.Random(s.spec.seed),
                                 profile=profile_named(s.spec.profile))
            await s.proxy.start()
            host, port = s.proxy.address
            s.term = Terminal.open(s.tdir, self.clock)
            s.agent = FleetAgent(s.tdir, s.term, settings, rng=random.Random(s.spec.seed + 1),
                                 hq_address=f"{host}:{port}")
            s.task = asyncio.create_task(s.agent.run(), name=f"agent-{s.spec.tid}")
        self._tick = asyncio.create_task(self._ticker())
        t0 = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(online_timeout_s):
                await asyncio.gather(*(s.agent.online.wait() for s in self.slots if s.agent))
        online = sum(1 for s in self.slots if s.agent and s.agent.online.is_set())
        return {"online": online, "online_s": time.perf_counter() - t0}

    async def _ticker(self) -> None:
        """The loop's lag: how late a 50 ms sleep wakes. Hundreds of agents share this loop, so a
        late wake-up says the emulator (not HQ) is what a verdict waited for."""
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lags.append(time.perf_counter() - t0 - 0.05)

    def probe(self) -> dict[str, Any]:
        """Byte counters, this process's CPU seconds and RSS, and the loop lag since the last probe."""
        lags, self.lags = self.lags, []
        t = os.times()
        return {**self.wire_bytes(), "rss_kb": _rss_kb(os.getpid()), "cpu_s": t.user + t.system,
                "lag_p99_s": sorted(lags)[int(0.99 * (len(lags) - 1))] if lags else 0.0,
                "lag_max_s": max(lags, default=0.0)}

    def wire_bytes(self) -> dict[str, int]:
        up = down = conns = 0
        for s in self.slots:
            if s.proxy is not None:
                st = s.proxy.stats()
                up, down, conns = up + st.up.bytes_out, down + st.down.bytes_out, conns + st.connections_total
        return {"up": up, "down": down, "connections": conns}

    async def _one(self, s: _Slot, phase: int, tally: _Tally, budget_s: float | None = None) -> None:
        assert s.term is not None and s.agent is not None
        n = s.used[phase]
        if n >= self.spec.voters[phase]:
            tally.exhausted += 1
            return
        s.used[phase] = n + 1
        tally.attempted += 1
        online = s.agent.online.is_set()
        try:
            local = s.term.checkin(voter_id(phase, s.spec.index, n), "fleet")
        except Exception as e:  # noqa: BLE001 — recorded and shown in the report, never hidden
            tally.errors.append(f"{s.spec.tid}: {type(e).__name__}: {e}"[:200])
            return
        if local.seq is None:
            tally.errors.append(f"{s.spec.tid}: no ballot handed to {local.voter.voter_id}")
            return
        contests = [c.contest for c in local.handed]
        t0 = time.perf_counter()
        res = await s.agent.resolve(local.seq, contests, budget_s=budget_s)
        dt = time.perf_counter() - t0
        tally.events += 2 if (res.provisional or res.withheld) else 1
        tally.ballots += len(contests) - len(res.withheld)
        if res.provisional:
            tally.provisional += 1
            if not online:
                tally.offline_at_start += 1
        else:
            tally.answered += 1
        if online and not res.provisional:  # a verdict's time; a provisional one's is the budget
            tally.lat.setdefault(s.spec.profile, []).append(dt)

    async def _drive(self, s: _Slot, phase: int, t0_wall: float, duration_s: float, rate_per_s: float,
                     tally: _Tally, rng: random.Random, grace_s: float) -> None:
        """One poll worker: arrivals of a Poisson process, served one after the other."""
        arrivals: list[float] = []
        t = rng.expovariate(rate_per_s)
        while t < duration_s:
            arrivals.append(t)
            t += rng.expovariate(rate_per_s)
        tally.offered += len(arrivals)
        for a in arrivals:
            now = time.time()
            if self.stopping or now > t0_wall + duration_s + grace_s:
                return  # not attempted: counted as offered minus attempted
            if t0_wall + a > now:
                await asyncio.sleep(t0_wall + a - now)
            tally.lag.append(max(0.0, time.time() - (t0_wall + a)))
            await self._one(s, phase, tally)

    async def _faults(self, t_end: float, mean_gap_s: float, rng: random.Random, cut: list[int]) -> None:
        """The soak's faults: now and then one terminal's link goes down for 2–20 s, then back."""
        while time.time() < t_end and not self.stopping:
            await asyncio.sleep(min(rng.expovariate(1.0 / mean_gap_s), max(0.0, t_end - time.time())))
            if time.time() >= t_end:
                return
            s = rng.choice(self.slots)
            if s.proxy is None:
                continue
            s.proxy.down(reset=True)
            cut[0] += 1
            await asyncio.sleep(rng.uniform(2.0, 20.0))
            s.proxy.up()

    async def load(self, t0_wall: float, duration_s: float, rate_per_s: float, grace_s: float,
                   fault_gap_s: float | None) -> dict[str, Any]:
        tally = _Tally()
        cut = [0]
        tasks = [asyncio.create_task(self._drive(s, LOAD, t0_wall, duration_s, rate_per_s, tally,
                                                 random.Random(s.spec.seed * 7 + 1), grace_s)) for s in self.slots]
        faults = (asyncio.create_task(self._faults(t0_wall + duration_s, fault_gap_s, random.Random(self.spec.seed), cut))
                  if fault_gap_s else None)
        await asyncio.gather(*tasks)
        if faults is not None:
            faults.cancel()
            await asyncio.gather(faults, return_exceptions=True)
            for s in self.slots:  # a cut still open when the phase ended
                if s.proxy is not None:
                    s.proxy.up()
        return {"tally": tally.as_dict(), "links_cut": cut[0]}

    async def settle(self, timeout_s: float) -> dict[str, Any]:
        """Wait until HQ acknowledged every journal entry of every terminal here."""
        t0 = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while any(s.agent is not None and s.agent.pending() > 0 for s in self.slots):
                    await asyncio.sleep(0.2)
        left = sum(s.agent.pending() for s in self.slots if s.agent is not None)
        return {"pending": left, "settle_s": time.perf_counter() - t0}

    # --- the reconnect storm -------------------------------------------------------------
    async def storm_down(self) -> dict[str, Any]:
        for s in self.slots:
            assert s.proxy is not None
            s.proxy.down(reset=True)
        t0 = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15.0):
                while any(s.agent is not None and s.agent.online.is_set() for s in self.slots):
                    await asyncio.sleep(0.05)
        return {"offline_s": time.perf_counter() - t0,
                "still_online": sum(1 for s in self.slots if s.agent and s.agent.online.is_set())}

    async def storm_backlog(self, checkins: int) -> dict[str, Any]:
        """Each terminal records ``checkins`` check-ins offline (each: the check-in and its
        provisional outcome, two journal entries), as a station in an outage does."""
        tally = _Tally()
        per: dict[str, dict[str, int]] = {}
        for s in self.slots:
            before = tally.ballots
            for i in range(checkins):
                await self._one(s, BACKLOG, tally, budget_s=0.0)
                if i % 50 == 0:
                    await asyncio.sleep(0)  # the agents' loops still run (backoff timers)
            assert s.agent is not None
            per[s.spec.tid] = {"ballots": tally.ballots - before, "head": s.agent.pending() + s.agent.link.acked_seq}
        return {"tally": tally.as_dict(), "per_terminal": per}

    async def storm_up(self, t_base: float, spread_s: float, heads: dict[str, int], targets: dict[str, int],
                       rate_per_s: float, timeout_s: float) -> dict[str, Any]:
        """Each link comes back at ``t_base`` + U(0, spread); new check-ins start at each
        terminal's return. Per terminal: when its backlog was all acknowledged (uploaded) and when
        it held every other terminal's backlog flags (converged), in seconds after its return."""
        tally = _Tally()
        out: dict[str, dict[str, Any]] = {}
        rng = random.Random(self.spec.seed * 13)
        ups = {s.spec.tid: t_base + rng.uniform(0.0, spread_s) for s in self.slots}
        done = asyncio.Event()

        async def one_link(s: _Slot) -> None:
            assert s.proxy is not None and s.agent is not None
            t_up = ups[s.spec.tid]
            await asyncio.sleep(max(0.0, t_up - time.time()))
            s.proxy.up()
            rec: dict[str, Any] = {"profile": s.spec.profile, "up_at": t_up, "online_s": None, "uploaded_s": None,
                                   "converged_s": None}
            out[s.spec.tid] = rec
            while not done.is_set():
                now = time.time() - t_up
                if rec["online_s"] is None and s.agent.online.is_set():
                    rec["online_s"] = now
                if rec["uploaded_s"] is None and s.agent.link.acked_seq >= heads[s.spec.tid]:
                    rec["uploaded_s"] = now
                if rec["uploaded_s"] is not None and s.agent.backlog_flags >= targets[s.spec.tid]:
                    rec["converged_s"] = now
                    return
                await asyncio.sleep(0.1)

        async def new_checkins(s: _Slot) -> None:
            t_up = ups[s.spec.tid]
            await asyncio.sleep(max(0.0, t_up - time.time()))
            r = random.Random(s.spec.seed * 17)
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(r.expovariate(rate_per_s)):
                        await done.wait()
                if done.is_set():
                    return
                tally.offered += 1
                await self._one(s, STORM, tally)

        links = [asyncio.create_task(one_link(s)) for s in self.slots]
        desks = [asyncio.create_task(new_checkins(s)) for s in self.slots]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(1.0, t_base + spread_s + timeout_s - time.time())):
                await asyncio.gather(*links)
        done.set()
        for t in links:
            t.cancel()
        await asyncio.gather(*links, *desks, return_exceptions=True)
        return {"tally": tally.as_dict(), "per_terminal": out}

    # --- end ------------------------------------------------------------------------------
    async def stop(self) -> dict[str, Any]:
        if self.stopping:
            return {}
        self.stopping = True
        if self._tick is not None:
            self._tick.cancel()
        for s in self.slots:
            if s.agent is not None:
                s.agent.stop()
        await asyncio.gather(*(s.task for s in self.slots if s.task is not None), return_exceptions=True)
        for s in self.slots:
            if s.proxy is not None:
                await s.proxy.close()
            if s.term is not None:
                s.term.close()
        return {}

    def close_stations(self) -> None:
        for s in self.slots:
            with contextlib.suppress(Exception):
                atrest.close_station(s.tdir)


def _voter_row(vid: str) -> tuple[Any, ...]:
    return (vid, 1, "選挙 太郎", "センキョ タロウ", "センキョタロウ", "1980-05-01", Sex.MALE.value,
            "横浜市中区本町1-1", Status.REGISTERED.value)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def worker_main(conn: Connection) -> None:
    """The process's entry point: the spec first, then answer commands until ``stop``."""
    spec: WorkerSpec = conn.recv()
    os.environ[HEAD_DIR_ENV] = str(spec.root / "heads")  # each terminal's head record, off its TDIR
    logging.basicConfig(level=logging.ERROR)  # the agents' link chatter is the storm's normal
    worker = Worker(spec)
    prof_dir = os.environ.get("MEIBO_FLEET_PROFILE")  # a directory: each worker's cProfile there
    prof = cProfile.Profile() if prof_dir else None
    try:
        if prof is not None:
            prof.enable()
        asyncio.run(_serve(conn, worker))
    finally:
        if prof is not None and prof_dir:
            prof.disable()
            prof.dump_stats(str(Path(prof_dir) / f"worker-{os.getpid()}.prof"))
        worker.close_stations()
        conn.close()


async def _serve(conn: Connection, worker: Worker) -> None:
    loop_handlers = {
        "setup": lambda a: _sync(worker.setup),
        "start": lambda a: worker.start(**a),
        "load": lambda a: worker.load(**a),
        "settle": lambda a: worker.settle(**a),
        "storm_down": lambda a: worker.storm_down(),
        "storm_backlog": lambda a: worker.storm_backlog(**a),
        "storm_up": lambda a: worker.storm_up(**a),
        "bytes": lambda a: _sync(worker.probe),
    }
    try:
        while True:
            op, args = await asyncio.to_thread(conn.recv)
            if op == "stop":
                await worker.stop()
                conn.send(("ok", {}))
                return
            try:
                result = await loop_handlers[op](args)
                conn.send(("ok", result))
            except Exception as e:  # noqa: BLE001 — the coordinator reports it and stops the run
                conn.send(("error", f"{op}: {type(e).__name__}: {e}"))
    finally:
        await worker.stop()


async def _sync(fn: Any) -> Any:
    return fn()


if __name__ == "__main__":  # python -m tooling.fleet_worker FD (started by tooling/fleet.py)
    worker_main(Connection(int(sys.argv[1])))
