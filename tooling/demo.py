"""``meibo demo``: a simulated election, end to end, on one machine (the main job).

What runs is what an election office runs: ``meibo hq serve`` as its own process with TLS 1.3 and
client certificates, one ``meibo terminal run`` process per station, each dialling HQ through its
own emulated LTE link (sync_protocol/fault_proxy.py), real SQLite files under the demo directory.
Terminals are enrolled as an office enrolls them: a private pcscd with the vpcd reader
(provisioning/pcsc_service.py), a blank virtual card per terminal, ``meibo provision issue-card``
and ``meibo terminal enroll`` against ``meibo hq provisioning`` (which also installs the signed
roll). Only where pcscd / vpcd cannot start does it fall back to ``meibo hq enroll-local``, saying
so; the report's ``enrollment`` is "smart-card" or "enroll-local".
This module is only the *driver*: it plays the voters and the poll workers (it records check-ins
through each terminal's own journal and asks that terminal's agent for HQ's verdict, exactly as
``meibo terminal checkin`` does), the network (links up and down on a schedule) and HQ staff
(不在者投票, a revocation), then checks the day against what it injected. Beside it: the day's
script in demo_day.py, the card desk in card_desk.py, the report in demo_report.py, the windows
after the day in demo_windows.py, and running ``meibo`` as a child in meibo_process.py.
No orphans: every long-lived child (HQ nodes, sync agents) is started by tooling/lifeline.py's
``popen`` and dies with the demo even when the demo is SIGKILLed; PostgreSQL servers (demo_pg.py)
are removed by their base's watchdog.

Two days are replayed at ``--speed``: Saturday, the last day of early voting (期日前投票所 only),
and Sunday, election day (共通投票所 and a 当日投票所). Some voters try a second station: the
classic case (voted early, returns on Sunday with the 入場券) is stopped online; voters who go
to two stations while one of them is offline get two ballots, and HQ must flag every such double
vote as soon as the link returns. The run fails (non-zero exit) unless double votes detected ==
double votes injected and no acknowledged check-in is missing at HQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir, TerminalDir
from appliance.terminal import Terminal
from ground.clock import JST, FixedClock
from ground.errors import MeiboError
from hq.admin_client import ask_admin
from hq.server import ADMIN_SOCKET
from hq.store import HqStore
from provisioning.pcsc_service import PcscUnavailable
from sync_protocol.client import ask_agent
from sync_protocol.fault_proxy import FaultProxy
from sync_protocol.lte_link import PROFILES
from tooling.card_desk import CardDesk
from tooling.demo_day import (ELECTION_DAY, SATURDAY, Attempt, StationPlan, election_toml, eligible_voters,
                              make_attempts, plan_stations)
from tooling.demo_report import DemoReport, Outcome, tally
from tooling.lifeline import popen
from tooling.meibo_process import free_port, meibo_argv, run_meibo


class Demo:
    def __init__(self, root: Path, stations: int, voters: int, hours: float, speed: float, checkins: int,
                 seed: int, say: Any = print) -> None:
        self.root = root
        self.plan = plan_stations(stations)
        self.voters = voters
        self.hours = hours
        self.speed = speed
        self.n_checkins = checkins
        self.rng = random.Random(seed)
        self.seed = seed
        self.say = say
        self.hq_port = free_port()
        self.hq = HqDir(root / "hq")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.proxies: dict[str, FaultProxy] = {}
        self.outcomes: list[Outcome] = []
        self.report = DemoReport(hq_address=f"127.0.0.1:{self.hq_port}")
        self.pin_file = root / "supervisor.pin"
        self.store_url: str | None = None  # HQ's store; None: hq.db (tooling/demo_pg.py sets the pair's DSN)

    # --- set-up ----------------------------------------------------------------------------
    def setup(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        (self.root / "election.toml").write_text(election_toml(self.plan, self.hq_port), "utf-8")
        self.pin_file.write_text("2468\n", "utf-8")
        self.say(f"選挙を作成: 知事選挙・市長選挙（同日選挙）、投票所 {len(self.plan)} か所 → {self.root}")
        run_meibo(["hq", "init", str(self.hq.root), "--config", str(self.root / "election.toml")])
        roll = self.root / "roll.csv"
        run_meibo(["synth-roll", "--voters", str(self.voters), "--seed", str(self.seed), "--out", str(roll),
                   "--election-day", str(ELECTION_DAY)])
        self.say(f"合成の選挙人名簿: {self.voters:,} 人 → 本部に取り込み・署名")
        run_meibo(["roll", "import", str(self.hq.root), str(roll)])
        pkg = self.root / "roll-v1.pkg"
        run_meibo(["roll", "publish", str(self.hq.root), "--out", str(pkg), "--full"])
        self.eligible = eligible_voters(roll)
        t0 = time.monotonic()
        self.enroll_all(pkg)
        self.report.enroll_s = time.monotonic() - t0
        how = "登録カード（PC/SC・仮想カード）" if self.report.enrollment == "smart-card" else "直接登録（enroll-local）"
        self.say(f"端末 {len(self.plan)} 台を{how}で登録し、署名付き名簿を導入しました"
                 f"（{self.report.enroll_s:.1f} 秒）")

    def enroll_all(self, pkg: Path) -> None:
        """Enroll every terminal with a smart card through the real path; the direct path only when
        pcscd / vpcd cannot start here (the run says so, and the report records which path)."""
        try:
            cards: CardDesk | None = CardDesk.open(self.root, self.hq, random.Random(self.rng.random()), self.say)
        except PcscUnavailable as e:
            self.say(f"  注意: PC/SC（pcscd と仮想カードリーダー vpcd）を起動できないため、カードを使わず"
                     f"直接登録（meibo hq enroll-local）に切り替えます。理由: {e}")
            cards = None
        if cards is None:
            self.report.enrollment = "enroll-local"
            for s in self.plan:
                tdir = self.root / s.terminal
                run_meibo(["hq", "enroll-local", str(self.hq.root), "--terminal", s.terminal, "--station", s.station,
                           "--out", str(tdir), "--pin-file", str(self.pin_file)])
                self._open_station(tdir)
                run_meibo(["terminal", "install-roll", str(tdir), str(pkg)])
            return
        desk = cards
        self.report.enrollment = "smart-card"

        def lane(slot: int) -> None:  # the vpcd reader has two slots: two cards at a time
            for s in self.plan[slot::2]:
                tdir = self.root / s.terminal
                desk.enroll(s.terminal, s.station, tdir, self.pin_file, slot)
                self._open_station(tdir)

        try:
            with ThreadPoolExecutor(2) as pool:
                for f in [pool.submit(lane, 0), pool.submit(lane, 1)]:
                    f.result()
        finally:
            desk.close()

    def _open_station(self, tdir: Path) -> None:
        p = subprocess.run(meibo_argv() + ["terminal", "open", str(tdir), "--pin-file", str(self.pin_file)],
                           capture_output=True, text=True)
        if p.returncode not in (0, 2):  # 2: no such command (stores not encrypted in this build)
            raise MeiboError(f"投票所を開設できません: {p.stderr.strip()}", code="demo_step_failed")

    # --- processes ---------------------------------------------------------------------------
    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        f = open(self.root / log, "wb")
        p = popen(meibo_argv() + args, stdout=subprocess.PIPE, stderr=f)  # dies with us, even on SIGKILL
        self.procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()
        if not line:
            raise MeiboError(f"起動に失敗しました: {' '.join(args[:2])}（{self.root / log} を参照）", code="demo_step_failed")
        return p

    async def start(self) -> None:
        self._spawn(["hq", "serve", str(self.hq.root), "--dev-loopback"], "hq.log")
        for s in self.plan:
            proxy = FaultProxy(("127.0.0.1", self.hq_port), rng=random.Random(self.rng.random()),
                               profile=PROFILES[s.profile])
            await proxy.start()
            self.proxies[s.station] = proxy
            host, port = proxy.address
            self._spawn(["terminal", "run", str(self.root / s.terminal), "--hq", f"{host}:{port}"],
                        f"{s.terminal}.log")
        self.say("本部サーバと端末の同期エージェントを起動（TLS 1.3 相互認証、各端末に LTE 回線エミュレータ）")

    async def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                await asyncio.to_thread(p.wait, 15)
            except subprocess.TimeoutExpired:
                p.kill()
        for proxy in self.proxies.values():
            await proxy.close()

    # --- the voters ------------------------------------------------------------------------
    def make_attempts(self) -> dict[str, list[Attempt]]:
        return make_attempts(self.plan, self.eligible, self.rng, self.n_checkins, self.hours)

    def real_at(self, day_start: float, hour: float) -> float:
        return day_start + (hour - 7.0) * 3600.0 / self.speed

    async def run_station(self, s: StationPlan, attempts: list[Attempt], day_start: float) -> None:
        tdir = TerminalDir(self.root / s.terminal)
        clock = FixedClock(datetime(s.day.year, s.day.month, s.day.day, 7, tzinfo=JST))
        term = await asyncio.to_thread(Terminal.open, tdir, clock)
        try:
            for a in attempts:
                delay = self.real_at(day_start, a.at_hour) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                clock.set(datetime(s.day.year, s.day.month, s.day.day, tzinfo=JST) + timedelta(hours=a.at_hour))
                await self.one_checkin(term, tdir, a)
        finally:
            term.close()

    async def one_checkin(self, term: Terminal, tdir: TerminalDir, a: Attempt) -> None:
        try:
            local = await asyncio.to_thread(term.checkin, a.voter, "demo-clerk")
        except MeiboError as e:
            self.outcomes.append(Outcome(a, None, [], [], False, {"*": e.code}, None))
            return
        refused: dict[str, str] = {str(d.contest): d.code.value for d in local.refused}
        if local.seq is None:
            self.outcomes.append(Outcome(a, None, [], [], False, refused, None))
            return
        handed: list[str] = [str(d.contest) for d in local.handed]
        t0 = time.perf_counter()
        ans = await ask_agent(tdir, {"op": "resolve", "seq": local.seq, "contests": handed}, timeout_s=10.0)
        latency = (time.perf_counter() - t0) * 1000
        if ans is None or not ans.get("ok"):
            # the agent must answer; without it the check-in stays unresolved: record provisional
            await asyncio.to_thread(term.record_provisional, local.seq)
            ans = {"withheld": [], "provisional": True}
        out = Outcome(a, local.seq, handed, list(ans["withheld"]), bool(ans["provisional"]), refused,
                      None if ans["provisional"] else latency)
        if a.kind == "void" and len(out.withheld) < len(handed):
            await asyncio.to_thread(term.void, local.seq, "投票せずに退出", "demo-clerk")
            out.voided = True
        self.outcomes.append(out)

    async def play_day(self, label: str, stations: list[StationPlan], attempts: dict[str, list[Attempt]],
                       incidents: list[tuple[float, Any]]) -> None:
        day_start = time.monotonic() + 0.5
        tasks = [asyncio.create_task(self.run_station(s, attempts[s.station], day_start)) for s in stations]
        for s in stations:  # scheduled outages
            if s.outage:
                incidents.append((s.outage[0], lambda s=s: self._link(s, False)))
                incidents.append((s.outage[1], lambda s=s: self._link(s, True)))
        incidents.sort(key=lambda x: x[0])
        progress = asyncio.create_task(self._progress(label, stations, day_start))
        for hour, action in incidents:
            delay = self.real_at(day_start, hour) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            r = action()
            if asyncio.iscoroutine(r):
                await r
        await asyncio.gather(*tasks)
        progress.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await progress

    async def _link(self, s: StationPlan, up: bool) -> None:
        proxy = self.proxies[s.station]
        if up:
            proxy.up()
            self.say(f"    ● {s.name}: 回線復旧")
        else:
            proxy.down(reset=True)
            self.say(f"    ○ {s.name}: 回線断（LTE 圏外）")

    async def _progress(self, label: str, stations: list[StationPlan], day_start: float) -> None:
        hour = 8
        while hour <= 7 + self.hours:
            delay = self.real_at(day_start, hour) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            counts = {s.station: sum(1 for o in self.outcomes if o.attempt.station == s.station and o.seq is not None)
                      for s in stations}
            rep = await self._hq_report()
            alerts = rep.get("active_alerts", "?") if rep else "?"
            online = {x["terminal"] for x in rep.get("stations", []) if x.get("online")} if rep else set()
            cells = "  ".join(f"{s.station} {counts[s.station]:4d}{'●' if s.terminal in online else '○'}" for s in stations)
            self.say(f"  {label} {hour:02d}:00  {cells}  二重投票の警告 {alerts}")
            hour += 1

    async def _hq_report(self) -> dict[str, Any]:
        try:
            return await ask_admin(self.hq.root / ADMIN_SOCKET, {"op": "report"}, timeout=5.0) or {}
        except (OSError, ValueError, asyncio.TimeoutError):
            return {}

    async def absentee(self, voter: str) -> None:
        out = await ask_admin(self.hq.root / ADMIN_SOCKET, {"op": "absentee", "voter": voter,
                                                        "now": f"{SATURDAY}T12:00:00+09:00"})
        if out and out.get("code") == "ok":
            self.report.absentee += 1
            self.say(f"    本部: 不在者投票を記録（選挙人 {voter}）→ 全端末に配信")

    async def revoke(self, s: StationPlan) -> None:
        await asyncio.to_thread(run_meibo, ["hq", "revoke", str(self.hq.root), s.terminal, "--reason", "端末紛失（デモ）"])
        self.report.revoked = s.terminal
        self.say(f"    本部: 端末 {s.terminal}（{s.name}）を失効（紛失の届出）")

    # --- the whole day ---------------------------------------------------------------------
    async def run(self) -> DemoReport:
        t0 = time.monotonic()
        attempts = self.make_attempts()
        early = [s for s in self.plan if s.kind == "early"]
        sunday = [s for s in self.plan if s.kind != "early"]
        await self.start()
        try:
            # an absentee voter (不在者投票 recorded at HQ) who also turns up at a station
            absentee_voter = self.rng.choice(self.eligible[sorted(self.eligible)[0]])
            attempts[early[0].station].append(Attempt(14.5, early[0].station, absentee_voter, "absentee_holder"))
            attempts[early[0].station].sort(key=lambda a: a.at_hour)
            self.say(f"\n■ {SATURDAY:%m月%d日}（土） 期日前投票 最終日")
            await self.play_day("土", early, attempts, [(12.0, lambda: self.absentee(absentee_voter))])
            self.say(f"\n■ {ELECTION_DAY:%m月%d日}（日） 選挙期日")
            lost = early[-1]
            await self.play_day("日", sunday, attempts, [(15.0, lambda: self.revoke(lost))])
            await self.heal()
            await self.reconcile()
        finally:
            await self.stop()
        self.report.wall_s = time.monotonic() - t0
        return self.report

    async def heal(self) -> None:
        self.say("\n全回線を復旧し、全端末の同期を待っています…")
        for proxy in self.proxies.values():
            proxy.set_profile(PROFILES["good"])
            proxy.up()
        t0 = time.monotonic()
        deadline = t0 + 120
        while time.monotonic() < deadline:
            pending = 0
            for s in self.plan:
                if s.terminal == self.report.revoked:
                    continue
                ans = await ask_agent(TerminalDir(self.root / s.terminal), {"op": "status"})
                pending += int(ans.get("pending", 1)) if ans else 1
            if pending == 0:
                break
            await asyncio.sleep(0.5)
        self.report.converged_s = time.monotonic() - t0

    async def reconcile(self) -> None:
        r = self.report
        tally(r, self.plan, self.outcomes)
        rep = await self._hq_report()
        r.detected_double_votes = int(rep.get("active_alerts", -1))
        # every check-in a poll worker was told about must be at HQ, and every journal event too
        store = HqStore(self.hq, store_url=self.store_url)
        try:
            ledger = store.load()
        finally:
            store.close()
        total_events = 0
        for s in self.plan:
            with Terminal.open(TerminalDir(self.root / s.terminal), FixedClock(datetime.now(JST))) as t:
                head = t.head().seq
            total_events += head
            held = ledger.terminals[s.terminal].acked_seq if s.terminal in ledger.terminals else 0
            r.events_lost += max(0, head - held)
        for o in self.outcomes:
            if o.seq is not None and (("T" + o.attempt.station), o.seq) not in ledger.checkins:
                r.acknowledged_missing += 1
        wire = sum(p.stats().up.bytes_in + p.stats().down.bytes_in for p in self.proxies.values())
        r.bytes_per_event = wire / max(1, total_events)
        r.wire_connections = sum(p.stats().connections_total for p in self.proxies.values())


def run_demo(root: Path, *, stations: int = 6, voters: int = 100_000, hours: float = 13, speed: float = 600,
             checkins: int = 2400, seed: int = 1, say: Any = print) -> DemoReport:
    demo = Demo(root, stations, voters, hours, speed, checkins, seed, say)
    demo.setup()
    return asyncio.run(demo.run())
