"""The fleet benchmark (端末群の負荷試験, issue 20): a large city's terminals on one HQ.

Owns the run: an election with one station per terminal, HQ made by ``hq_init`` and served by
the real ``meibo hq serve`` in its own process (so its CPU and memory are its own, read from
/proc), the terminals in a few worker processes (``tooling/fleet_worker.py``: each terminal its own
certificate, encrypted store, journal, ``SyncAgent`` and ``FaultProxy`` with an LTE profile), the
election-day peak replayed (Harris County's 3,000 check-ins a minute is the public reference),
optionally the reconnect storm (every link down, K journal entries each recorded offline, then
every link back within a second), and the report: each figure with the floor or goal it is held
to, measured in the same run.

Floors: the verdict's ``2×RTT + 20 ms`` takes each profile's RTT as measured in this run through
an identical proxy to an echo server (the median of 20 pings), not the profile's table value.

Where things live: HQ's directory on the machine's disk (its fsyncs are the ones measured);
the terminals' directories on tmpfs (/dev/shm when there is one): every real terminal has a disk
of its own, and 200 stores fsyncing on one disk would measure this machine's disk queue, not HQ.

May import appliance, sync_protocol, hq and ground (below tooling); imported by bench/fleet.py
and cli/bench_fleet.py. Hand-written because no load-testing library speaks meibo's protocol;
what it drives is the shipped code. ``meibo bench fleet`` and ``python -m bench fleet`` run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from ground.clock import JST, FixedClock
from ground.errors import MeiboError
from hq.terminals import hq_init
from sync_protocol.fault_proxy import FaultProxy
from sync_protocol.lte_link import profile_named
from tooling.fleet_worker import BACKLOG, LOAD, STORM, TerminalSpec, WorkerSpec
from tooling.meibo_process import free_port, meibo_argv

ELECTION_DAY = "2027-04-25"
CLOCK = datetime(2027, 4, 25, 12, 0, tzinfo=JST)  # the terminals' clock: every station open
CONTESTS = (("governor", "神奈川県知事選挙", "prefectural"), ("mayor", "横浜市長選挙", "municipal"))
HARRIS_PER_MIN = 3000.0
ROOT = Path(__file__).resolve().parents[1]


class FleetFailed(MeiboError):
    """The fleet could not be set up or a worker failed; the run's directories are removed."""

    code = "fleet_failed"


@dataclass(frozen=True)
class FleetPlan:
    terminals: int = 200
    rate_per_min: float = HARRIS_PER_MIN
    duration_s: float = 180.0
    workers: int = 2
    # the share of terminals on each LTE profile (docs/lte-link.md)
    profiles: tuple[tuple[str, float], ...] = (("good", 0.6), ("handover", 0.2), ("cell-edge", 0.2))
    seed: int = 1
    budget_s: float = 1.5   # SyncSettings' verdict budget, as deployed
    backoff_max_s: float = 30.0  # SyncSettings' reconnect back-off cap, as deployed
    load: bool = True
    grace_s: float = 10.0   # a desk that fell behind may finish its queue this long after the phase
    fault_gap_s: float | None = None  # the soak: one link cut for 2–20 s every so often per worker
    storm: bool = False
    storm_events: int = 2000  # K journal entries per terminal recorded offline (K/2 check-ins)
    storm_spread_s: float = 1.0  # every link back within this
    storm_timeout_s: float = 300.0
    rss_sample_s: float = 0.5
    rtt_pings: int = 20


@dataclass
class Figure:
    name: str
    value: Any
    unit: str = ""
    floor: float | None = None  # measured in this run
    goal: str = ""
    ok: bool | None = None
    note: str = ""

    def line(self) -> str:
        v = f"{self.value:.1f}" if isinstance(self.value, float) else str(self.value)
        parts = [f"{self.name} = {v}{(' ' + self.unit) if self.unit else ''}"]
        if self.floor is not None:
            parts.append(f"floor {self.floor:.1f}")
            if isinstance(self.value, (int, float)) and self.floor:
                parts.append(f"ratio {self.value / self.floor:.2f}")
        if self.goal:
            parts.append(f"goal {self.goal}" + ("" if self.ok is None else (": ok" if self.ok else ": MISSED")))
        if self.note:
            parts.append(self.note)
        return "  ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v not in (None, "")}


@dataclass
class FleetReport:
    plan: FleetPlan
    figures: list[Figure] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, *a: Any, **kw: Any) -> Figure:
        f = Figure(*a, **kw)
        self.figures.append(f)
        return f

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {"plan": {k: v for k, v in vars(self.plan).items()}, "figures": [f.as_dict() for f in self.figures]}


# --- the election and its terminals --------------------------------------------------------------

def election_toml(n_terminals: int, hq_port: int) -> str:
    out = ['[election]', 'id = "fleet-2027"', 'name = "端末群の負荷試験"', f'election_day = "{ELECTION_DAY}"',
           'early_voting_start = "2027-04-12"', '', '[hq]', f'address = "127.0.0.1:{hq_port}"', '']
    for cid, name, level in CONTESTS:
        out += ['[[contest]]', f'id = "{cid}"', f'name = "{name}"', f'level = "{level}"', '']
    for i in range(n_terminals):
        out += ['[[station]]', f'id = "C{i:03d}"', f'name = "共通投票所 {i + 1}"', 'kind = "common"',
                '[[station.open]]', 'hours = "07:00-20:00"', '']
    return "\n".join(out)


def assign_profiles(plan: FleetPlan) -> list[str]:
    """Each terminal's profile: the shares of ``plan.profiles``, spread evenly over the ids."""
    counts = [round(share * plan.terminals) for _, share in plan.profiles]
    counts[0] += plan.terminals - sum(counts)
    names = [name for (name, _), c in zip(plan.profiles, counts) for _ in range(c)]
    random.Random(plan.seed).shuffle(names)
    return names


# --- the link floors: each profile's RTT in this run -------------------------------------------

async def _echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    w.close()


async def measure_rtts(profiles: list[str], pings: int = 20, seed: int = 5) -> dict[str, float]:
    """Median RTT (ms) of each profile: 1-byte pings through a FaultProxy to an echo server."""
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    out: dict[str, float] = {}
    try:
        for name in profiles:
            async with FaultProxy(("127.0.0.1", port), rng=random.Random(seed), profile=profile_named(name)) as proxy:
                r, w = await asyncio.open_connection(*proxy.address)
                rtts = []
                for i in range(pings + 1):
                    t0 = time.perf_counter()
                    w.write(b"x")
                    await w.drain()
                    await r.readexactly(1)
                    if i:  # the first also pays the emulated TCP handshake
                        rtts.append((time.perf_counter() - t0) * 1000)
                w.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await w.wait_closed()
                out[name] = statistics.median(rtts)
    finally:
        server.close()
        await server.wait_closed()
    return out


# --- HQ in its own process ------------------------------------------------------------------

class HqProcess:
    """``meibo hq serve`` as a child; a thread samples its CPU (user+sys) and RSS from /proc."""

    def __init__(self, hq_root: Path, port: int, log: Path, sample_s: float) -> None:
        self.hq_root, self.port, self.log, self.sample_s = hq_root, port, log, sample_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.samples: list[tuple[float, float, int]] = []  # (wall, cpu s, rss kB)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick = os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        """Start the process (it loads and binds while the terminals are set up: ``ready``)."""
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(meibo_argv() + ["hq", "serve", str(self.hq_root), "--listen",
                                                         f"127.0.0.1:{self.port}", "--dev-loopback", "--json"],
                                         stdout=subprocess.PIPE, stderr=logf)

    def ready(self) -> None:
        """Wait for its ``listening`` line, then sample it from then on."""
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line or json.loads(line).get("code") != "listening":
            raise FleetFailed(f"本部サーバを起動できません（{self.log} を参照）")
        self._thread = threading.Thread(target=self._run, name="hq-sampler", daemon=True)
        self._thread.start()

    def sample(self) -> tuple[float, float, int]:
        assert self.proc is not None
        pid = self.proc.pid
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / self._tick  # utime, stime (fields 14, 15)
        rss = 0
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
            if ln.startswith("VmRSS:"):
                rss = int(ln.split()[1])
        s = (time.time(), cpu, rss)
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.sample_s):
            with contextlib.suppress(OSError, IndexError, ValueError):
                self.sample()

    def window(self, a: tuple[float, float, int], b: tuple[float, float, int]) -> dict[str, float]:
        """CPU and memory between two samples: cores used, RSS at start/peak/end (MB)."""
        inside = [s[2] for s in self.samples if a[0] <= s[0] <= b[0]] + [a[2], b[2]]
        wall = max(1e-9, b[0] - a[0])
        return {"cpu_s": b[1] - a[1], "wall_s": wall, "cores": (b[1] - a[1]) / wall,
                "rss_start_mb": a[2] / 1024, "rss_peak_mb": max(inside) / 1024, "rss_end_mb": b[2] / 1024}

    def rss_at(self, wall: float) -> int:
        """RSS (kB) of the sample nearest to ``wall``."""
        return min(self.samples, key=lambda s: abs(s[0] - wall))[2] if self.samples else 0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- workers ----------------------------------------------------------------------------------

class _Workers:
    """The worker processes: ``python -m tooling.fleet_worker FD``, one end of a socket pair each
    (a child started fresh, never forked from a process holding threads, and needing no
    ``__main__`` guard from whoever calls ``run_fleet``)."""

    def __init__(self, specs: list[WorkerSpec], log_dir: Path) -> None:
        self.conns: list[Connection] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        for i, spec in enumerate(specs):
            a, b = socket.socketpair()
            with open(log_dir / f"worker{i}.log", "wb") as logf:
                p = subprocess.Popen([sys.executable, "-m", "tooling.fleet_worker", str(b.fileno())],
                                     pass_fds=(b.fileno(),), env=env, stdout=logf, stderr=logf)
            b.close()
            conn = Connection(a.detach())
            conn.send(spec)
            self.conns.append(conn)
            self.procs.append(p)

    def ask(self, op: str, args: dict[str, Any] | None = None,
            per_worker: list[dict[str, Any]] | None = None) -> list[Any]:
        for i, c in enumerate(self.conns):
            c.send((op, per_worker[i] if per_worker is not None else (args or {})))
        return [self.answer(c, op) for c in self.conns]

    def answer(self, c: Connection, op: str) -> Any:
        try:
            status, result = c.recv()
        except EOFError:
            raise FleetFailed(f"端末群のプロセスが終了しました（{op}）") from None
        if status != "ok":
            raise FleetFailed(f"端末群のプロセスが失敗しました: {result}")
        return result

    def stop(self) -> None:
        for c in self.conns:
            with contextlib.suppress(OSError, EOFError, BrokenPipeError):
                c.send(("stop", {}))
        for c in self.conns:
            with contextlib.suppress(OSError, EOFError):
                if c.poll(60):
                    c.recv()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for c in self.conns:
            c.close()


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


def _merge(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"lat": {}, "lag": [], "errors": []}
    for t in tallies:
        for k, v in t.items():
            if k == "lat":
                for prof, xs in v.items():
                    out["lat"].setdefault(prof, []).extend(xs)
            elif isinstance(v, list):
                out[k].extend(v)
            else:
                out[k] = out.get(k, 0) + v
    return out


def _wire(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: sum(a[k] - b[k] for a, b in zip(after, before)) for k in ("up", "down", "connections", "cpu_s")}
    out["lag_p99_s"] = max(a["lag_p99_s"] for a in after)
    out["lag_max_s"] = max(a["lag_max_s"] for a in after)
    return out


LAG_LIMIT_S = 0.1


def _emulator_figures(report: FleetReport, prefix: str, wire: dict[str, Any], wall_s: float) -> None:
    """The terminals' processes: their CPU, and how late their loops woke. Past ``LAG_LIMIT_S``
    the verdict times above are the emulator's queue (hundreds of agents on a few cores), not HQ's."""
    lag = wire["lag_p99_s"] * 1000
    report.add(f"{prefix}terminal_processes_cpu", wire["cpu_s"] / max(1e-9, wall_s), "cores")
    report.add(f"{prefix}terminal_loop_lag_p99", lag, "ms", goal=f"≤ {LAG_LIMIT_S * 1000:.0f} ms (else the emulator, "
               "not HQ, sets the verdict times)", ok=lag <= LAG_LIMIT_S * 1000,
               note=f"max {wire['lag_max_s'] * 1000:.0f} ms")


# --- the run -----------------------------------------------------------------------------------

def run_fleet(plan: FleetPlan, say: Callable[[str], None] = print) -> FleetReport:
    if plan.terminals < 2 or plan.workers < 1:
        raise FleetFailed("端末は 2 台以上、プロセスは 1 つ以上で指定してください", code="fleet_plan")
    report = FleetReport(plan)
    disk = Path(tempfile.mkdtemp(prefix="meibo-fleet-"))
    shm_base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    shm = Path(tempfile.mkdtemp(prefix="meibo-fleet-", dir=shm_base))
    hq: HqProcess | None = None
    workers: _Workers | None = None
    try:
        port = free_port()
        (disk / "election.toml").write_text(election_toml(plan.terminals, port), "utf-8")
        hq_init(disk / "hq", disk / "election.toml", FixedClock(CLOCK))
        profiles = assign_profiles(plan)
        used = sorted(set(profiles), key=[p for p, _ in plan.profiles].index)
        # HQ starts now and learns each terminal from the registry when it connects
        hq = HqProcess(disk / "hq", port, disk / "hq.log", plan.rss_sample_s)
        hq.start()
        per_s = plan.rate_per_min / 60.0 / plan.terminals  # one terminal's arrivals
        mean_load = per_s * (plan.duration_s + plan.grace_s) if plan.load else 0.0
        storm_mean = per_s * (plan.storm_timeout_s + plan.storm_spread_s) if plan.storm else 0.0
        voters = {LOAD: int(mean_load + 6 * mean_load ** 0.5 + 10),
                  BACKLOG: plan.storm_events // 2 if plan.storm else 0,
                  STORM: int(storm_mean + 6 * storm_mean ** 0.5 + 10) if plan.storm else 0}
        specs = []
        for w in range(plan.workers):
            ts = tuple(TerminalSpec(f"T{i:03d}", f"C{i:03d}", i, profiles[i], plan.seed * 100_003 + i * 31)
                       for i in range(w, plan.terminals, plan.workers))
            specs.append(WorkerSpec(shm / f"w{w}", disk / "hq", ts, voters, CLOCK.isoformat(), plan.budget_s,
                                    plan.backoff_max_s, plan.seed * 1000 + w))
        for s in specs:
            s.root.mkdir()
        say(f"端末 {plan.terminals} 台を登録中（各端末に証明書・暗号化した記録・LTE 回線エミュレータ; "
            f"プロセス {plan.workers}）…")
        workers = _Workers(specs, disk)
        t0 = time.perf_counter()
        for c in workers.conns:
            c.send(("setup", {}))
        rtts = asyncio.run(measure_rtts(used, plan.rtt_pings))  # meanwhile: the links' own RTT
        report.raw["rtt_ms"] = rtts
        for c in workers.conns:
            workers.answer(c, "setup")
        report.raw["setup_s"] = time.perf_counter() - t0
        hq.ready()
        started = workers.ask("start", {"hq_port": port, "online_timeout_s": 120.0})
        online = sum(r["online"] for r in started)
        report.add("terminals_online", online, goal=f"= {plan.terminals}", ok=online == plan.terminals,
                   note=f"set-up {report.raw['setup_s']:.0f} s, all online in "
                        f"{max(r['online_s'] for r in started):.1f} s")
        if online < plan.terminals:
            raise FleetFailed(f"本部に接続できた端末は {online}/{plan.terminals} 台です（{disk / 'hq.log'}）")
        for name in used:
            report.add(f"rtt_{name}", rtts[name], "ms", note=f"median of {plan.rtt_pings} pings through the same proxy")
        if plan.load:
            _load_phase(plan, report, workers, hq, per_s, rtts, say)
        if plan.storm:
            _storm_phase(plan, report, workers, hq, per_s, rtts, say)
        return report
    finally:
        if workers is not None:
            workers.stop()
        if hq is not None:
            hq.stop()
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)


def _latency_figures(report: FleetReport, prefix: str, lat: dict[str, list[float]], rtts: dict[str, float]) -> None:
    """Per profile, the time of HQ's verdicts on check-ins begun online (those that went
    provisional are counted in ``checkins_answered``'s note: their time is the budget)."""
    if not any(lat.values()):
        report.add(f"{prefix}verdict_p99", "none", goal="≤ 2×RTT+20 ms", ok=False,
                   note="no check-in had HQ's verdict within the budget")
    for prof, xs in lat.items():
        if not xs:
            continue
        floor = 2 * rtts[prof] + 20.0
        p50, p99 = _pct(xs, 0.5) * 1000, _pct(xs, 0.99) * 1000
        report.add(f"{prefix}verdict_p50_{prof}", p50, "ms", floor=floor, note=f"n={len(xs)}")
        report.add(f"{prefix}verdict_p99_{prof}", p99, "ms", floor=floor, goal="≤ 2×RTT+20 ms", ok=p99 <= floor)


def _load_phase(plan: FleetPlan, report: FleetReport, workers: _Workers, hq: HqProcess, per_s: float,
                rtts: dict[str, float], say: Callable[[str], None]) -> None:
    say(f"選挙日のピークを再生: 毎分 {plan.rate_per_min:.0f} 件 × {plan.duration_s:.0f} 秒"
        + ("（回線断の障害あり）" if plan.fault_gap_s else ""))
    b0 = workers.ask("bytes")
    h0 = hq.sample()
    t_start = time.time() + 1.0
    results = workers.ask("load", {"t0_wall": t_start, "duration_s": plan.duration_s, "rate_per_s": per_s,
                                   "grace_s": plan.grace_s, "fault_gap_s": plan.fault_gap_s})
    h1 = hq.sample()
    b1 = workers.ask("bytes")
    settled = workers.ask("settle", {"timeout_s": 60.0})
    t = _merge([r["tally"] for r in results])
    report.raw["load"] = {k: v for k, v in t.items() if k not in ("lat", "lag")}
    offered, answered = t["offered"], t["answered"]
    report.add("checkins_offered", offered, note=f"{offered / plan.duration_s * 60:.0f}/min offered "
                                                  f"(reference: Harris County {HARRIS_PER_MIN:.0f}/min)")
    report.add("checkins_answered", answered, goal="= offered (every check-in HQ's verdict)",
               ok=answered == offered, note=f"provisional {t['provisional']} (budget {plan.budget_s:g} s passed "
                                            f"{t['provisional'] - t['offline_at_start']}, link down at the start "
                                            f"{t['offline_at_start']}), not attempted {offered - t['attempted']}, "
                                            f"errors {len(t['errors'])}")
    report.add("desk_queue_p99", _pct(t["lag"], 0.99) * 1000 if t["lag"] else 0.0, "ms",
               note="arrival to start of a check-in (a desk still busy with the one before)")
    _latency_figures(report, "", t["lat"], rtts)
    w = hq.window(h0, h1)
    report.add("hq_cpu", w["cores"], "cores", note=f"user+sys {w['cpu_s']:.1f} s over {w['wall_s']:.0f} s wall "
                                                   f"(machine: {os.cpu_count()} cores, shared)")
    report.add("hq_rss_start", w["rss_start_mb"], "MB")
    report.add("hq_rss_peak", w["rss_peak_mb"], "MB")
    report.add("hq_rss_end", w["rss_end_mb"], "MB")
    events = max(1, t["events"])
    growth = (w["rss_end_mb"] - w["rss_start_mb"]) * 1024 * 1024 / events
    report.add("hq_rss_growth_per_event", growth, "B", note=f"over {t['events']} journal entries")
    # after warm-up (the first fifth of the phase: caches, buffers, the allocator's arenas), at a
    # steady offered rate the entries after it are the other four fifths
    warm = hq.rss_at(h0[0] + 0.2 * (h1[0] - h0[0]))
    after = (w["rss_end_mb"] * 1024 - warm) * 1024 / max(1.0, 0.8 * events)
    report.add("hq_rss_growth_per_event_after_warmup", after, "B",
               note=f"RSS {warm / 1024:.0f} → {w['rss_end_mb']:.0f} MB after the first fifth")
    wire = _wire(b0, b1)
    n = max(1, answered + t["provisional"])
    report.add("wire_bytes_per_checkin", (wire["up"] + wire["down"]) / n, "B",
               note=f"up {wire['up'] / n:.0f} + down {wire['down'] / n:.0f} (fan-out to {plan.terminals - 1} "
                    f"others; TLS, WebSocket, heartbeats included)")
    per_receiver = wire["down"] / n / (plan.terminals - 1)
    report.add("wire_down_per_checkin_per_terminal", per_receiver, "B",
               note="what one more terminal adds to a check-in's cost")
    six = wire["up"] / n + 5 * per_receiver
    report.add("wire_bytes_per_checkin_at_6", six, "B", goal="≤ 300 B (issue 20)", ok=six <= 300,
               note="derived: up + 5 × per-terminal down")
    _emulator_figures(report, "", wire, w["wall_s"])
    report.add("wire_connections", wire["connections"], note=f"links made during the phase; cut by faults "
                                                              f"{sum(r['links_cut'] for r in results)}")
    left = sum(s["pending"] for s in settled)
    report.add("pending_after_load", left, goal="= 0 (HQ holds every entry)", ok=left == 0)
    report.raw["load_errors"] = t["errors"][:20]


def _storm_phase(plan: FleetPlan, report: FleetReport, workers: _Workers, hq: HqProcess, per_s: float,
                 rtts: dict[str, float], say: Callable[[str], None]) -> None:
    k = plan.storm_events
    say(f"再接続の嵐: 全端末の回線断、各端末 {k} 件（受付 {k // 2} 件）をオフラインで記録…")
    t_down = time.time()
    workers.ask("storm_down")
    backlog = workers.ask("storm_backlog", {"checkins": k // 2})
    per: dict[str, dict[str, int]] = {}
    for b in backlog:
        per.update(b["per_terminal"])
    total = sum(p["ballots"] for p in per.values())
    heads = {tid: p["head"] for tid, p in per.items()}
    targets = {tid: total - p["ballots"] for tid, p in per.items()}
    bt = _merge([b["tally"] for b in backlog])
    offline_s = time.time() - t_down
    say(f"  {bt['events']} 件を {offline_s:.0f} 秒で記録。全回線を 1 秒以内に復旧…")
    b0 = workers.ask("bytes")
    h0 = hq.sample()
    t_base = time.time() + 1.0
    res = workers.ask("storm_up", {"t_base": t_base, "spread_s": plan.storm_spread_s, "heads": heads,
                                   "targets": targets, "rate_per_s": per_s, "timeout_s": plan.storm_timeout_s})
    h1 = hq.sample()
    b1 = workers.ask("bytes")
    recs: dict[str, dict[str, Any]] = {}
    for r in res:
        recs.update(r["per_terminal"])
    report.add("storm_terminals", len(recs), note=f"{k} journal entries each ({bt['events']} in all, "
                                                  f"{total} ballots), offline {offline_s:.0f} s while recorded")
    conv = [r["converged_s"] for r in recs.values() if r["converged_s"] is not None]
    up = [r["uploaded_s"] for r in recs.values() if r["uploaded_s"] is not None]
    onl = [r["online_s"] for r in recs.values() if r["online_s"] is not None]
    missing = len(recs) - len(conv)
    # from the first link back to the last terminal converged
    first_up = min(r["up_at"] for r in recs.values())
    last_conv = max((r["up_at"] + r["converged_s"] for r in recs.values() if r["converged_s"] is not None),
                    default=float("nan"))
    last_up = max((r["up_at"] + r["uploaded_s"] for r in recs.values() if r["uploaded_s"] is not None),
                  default=float("nan"))
    all_conv = last_conv - first_up if not missing else float("inf")
    report.add("storm_all_uploaded", last_up - first_up, "s", note="first link back → HQ holds every backlog")
    report.add("storm_all_converged", all_conv, "s", goal="≤ 30 s", ok=all_conv <= 30.0,
               note=f"first link back → every terminal holds every other's backlog flags; not converged {missing}")
    for name, xs in (("storm_reconnect", onl), ("storm_uploaded", up), ("storm_converged", conv)):
        if xs:
            med = statistics.median(xs)
            report.add(f"{name}_per_terminal", f"min {min(xs):.1f} / median {med:.1f} / max {max(xs):.1f}", "s",
                       note=f"n={len(xs)}")
    served = [r["uploaded_s"] - r["online_s"] for r in recs.values()
              if r["uploaded_s"] is not None and r["online_s"] is not None]
    if served:  # HQ's share: from the link's WELCOME to its whole backlog acknowledged
        med = statistics.median(served)
        report.add("storm_upload_after_reconnect_per_terminal",
                   f"min {min(served):.1f} / median {med:.1f} / max {max(served):.1f}", "s",
                   note="HQ serving each link once it is back (fairness between links)")
    if conv:
        med = statistics.median(conv)
        ratio = max(conv) / med if med > 0 else float("inf")
        report.add("storm_starvation_max_over_median", ratio, goal="≤ 3× (no terminal starved)", ok=ratio <= 3.0)
        for prof in sorted({r["profile"] for r in recs.values()}):
            xs = [r["converged_s"] for r in recs.values() if r["profile"] == prof and r["converged_s"] is not None]
            if xs:
                report.add(f"storm_converged_{prof}", f"min {min(xs):.1f} / median {statistics.median(xs):.1f} / "
                                                      f"max {max(xs):.1f}", "s", note=f"n={len(xs)}")
    st = _merge([r["tally"] for r in res])
    report.add("storm_new_checkins", st["attempted"], note=f"HQ verdicts {st['answered']}, provisional "
                                                           f"{st['provisional']} (link not yet back at the start "
                                                           f"{st['offline_at_start']})")
    _latency_figures(report, "storm_", st["lat"], rtts)
    w = hq.window(h0, h1)
    report.add("storm_hq_cpu", w["cores"], "cores", note=f"user+sys {w['cpu_s']:.1f} s over {w['wall_s']:.0f} s")
    report.add("storm_hq_rss_peak", w["rss_peak_mb"], "MB", note=f"start {w['rss_start_mb']:.0f} MB, "
                                                                 f"end {w['rss_end_mb']:.0f} MB")
    wire = _wire(b0, b1)
    ev = max(1, bt["events"])
    report.add("storm_wire_up_per_backlog_entry", wire["up"] / ev, "B", goal="≤ 12 B (issue 20: backlog)",
               ok=wire["up"] / ev <= 12)
    report.add("storm_wire_down_per_backlog_ballot_per_terminal", wire["down"] / max(1, total) / (len(recs) - 1),
               "B", note="the voted-flag fan-out: each ballot to every other terminal")
    _emulator_figures(report, "storm_", wire, w["wall_s"])
    report.raw["storm"] = {"per_terminal": recs, "errors": st["errors"][:20] + bt["errors"][:20]}


def print_report(report: FleetReport, say: Callable[[str], None] = print) -> None:
    for f in report.figures:
        say("  " + f.line())
