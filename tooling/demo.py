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
(不在者投票, a revocation), then checks the day against what it injected.

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
import csv
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ground.clock import JST, FixedClock
from appliance.dirs import HqDir, TerminalDir
from ground.errors import MeiboError
from appliance.terminal import Terminal
from sync_protocol.client import ask_agent
from sync_protocol.fault_proxy import FaultProxy
from provisioning.pcsc_service import PcscdService, PcscUnavailable, start_pcscd, stop_pcscd
from sync_protocol.lte_link import PROFILES

ELECTION_DAY = date(2027, 4, 25)
SATURDAY = ELECTION_DAY - timedelta(days=1)
CONTESTS = ("governor", "mayor")


@dataclass(frozen=True)
class StationPlan:
    station: str
    name: str
    kind: str  # early | common | day
    profile: str  # LTE profile name
    district: int | None = None
    outage: tuple[float, float] | None = None  # sim hours of the day, e.g. (10.0, 11.0)

    @property
    def day(self) -> date:
        return SATURDAY if self.kind == "early" else ELECTION_DAY

    @property
    def terminal(self) -> str:
        return "T" + self.station


def plan_stations(n: int) -> list[StationPlan]:
    pool = [
        StationPlan("E01", "中区役所 期日前投票所", "early", "good"),
        StationPlan("E02", "港北区役所 期日前投票所", "early", "cell-edge"),
        StationPlan("C01", "横浜駅 共通投票所", "common", "good", outage=(10.0, 11.5)),
        StationPlan("D01", "本町小学校", "day", "good", district=1),
        StationPlan("E03", "関内駅前 期日前投票所", "early", "handover"),
        StationPlan("C02", "新横浜駅 共通投票所", "common", "good"),
        StationPlan("E04", "青葉区役所 期日前投票所", "early", "good"),
        StationPlan("C03", "戸塚駅 共通投票所", "common", "cell-edge"),
        StationPlan("D02", "港中学校", "day", "good", district=2),
    ]
    if n < 4 or n > len(pool):
        raise MeiboError(f"--stations は 4〜{len(pool)} で指定してください", code="demo_stations")
    return pool[:n]


def election_toml(stations: list[StationPlan], hq_port: int) -> str:
    out = ['[election]', 'id = "demo-2027"', 'name = "神奈川県知事選挙・横浜市長選挙（デモ）"',
           f'election_day = "{ELECTION_DAY}"', 'early_voting_start = "2027-04-12"', '',
           '[hq]', f'address = "127.0.0.1:{hq_port}"', '',
           '[[contest]]', 'id = "governor"', 'name = "神奈川県知事選挙"', 'level = "prefectural"',
           'early_voting_start = "2027-04-09"', '',
           '[[contest]]', 'id = "mayor"', 'name = "横浜市長選挙"', 'level = "municipal"', '']
    for s in stations:
        out += ['[[station]]', f'id = "{s.station}"', f'name = "{s.name}"', f'kind = "{s.kind}"']
        if s.district is not None:
            out.append(f"district = {s.district}")
        out += ['[[station.open]]', 'hours = "07:00-20:00"' if s.kind != "early" else 'hours = "07:00-20:00"', '']
    return "\n".join(out)


@dataclass
class Attempt:
    at_hour: float  # sim hour of its station's day (7.0 … 20.0)
    station: str
    voter: str
    kind: str = "normal"  # normal | second_online | second_offline | absentee_holder | void


@dataclass
class Outcome:
    attempt: Attempt
    seq: int | None
    handed: list[str]
    withheld: list[str]
    provisional: bool
    refused: dict[str, str]
    latency_ms: float | None
    voided: bool = False


@dataclass
class DemoReport:
    per_station: dict[str, dict[str, int]] = field(default_factory=dict)
    stopped_online: int = 0
    injected_double_votes: int = 0
    detected_double_votes: int = 0
    events_lost: int = 0
    acknowledged_missing: int = 0
    bytes_per_event: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    checkins: int = 0
    offline_checkins: int = 0
    voids: int = 0
    absentee: int = 0
    revoked: str = ""
    converged_s: float = 0.0
    wall_s: float = 0.0
    enrollment: str = ""  # smart-card | enroll-local
    enroll_s: float = 0.0
    hq_address: str = ""

    def ok(self) -> bool:
        return (self.injected_double_votes == self.detected_double_votes and self.events_lost == 0
                and self.acknowledged_missing == 0)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["code"] = "ok" if self.ok() else "demo_failed"
        return d

    def text(self) -> str:
        how = {"smart-card": "登録カード（PC/SC・仮想カード）", "enroll-local": "直接登録（enroll-local、カードなし）"}
        lines = ["", "══ 投票日の照合結果 ══",
                 f"端末の登録: {how.get(self.enrollment, self.enrollment or '—')}（{self.enroll_s:.1f} 秒）"]
        for st, c in self.per_station.items():
            lines.append(f"  {st}: 受付 {c['checkins']:5d}  オフライン受付 {c['offline']:4d}  "
                         f"投票済で停止 {c['stopped']:3d}  対象外 {c['refused']:4d}")
        lines += [
            f"受付（交付した投票用紙のある受付）: {self.checkins}  うちオフライン受付 {self.offline_checkins}",
            f"取消: {self.voids}   不在者投票（本部）: {self.absentee}   失効した端末: {self.revoked or '—'}",
            f"二重投票を接続中に阻止: {self.stopped_online}",
            f"二重投票（オフライン中に発生）: 注入 {self.injected_double_votes} / 本部が検出 {self.detected_double_votes}"
            + ("  ✓ 一致" if self.injected_double_votes == self.detected_double_votes else "  ✕ 不一致"),
            f"失われた記録: {self.events_lost}   本部にない受付（通知済み）: {self.acknowledged_missing}",
            f"回線上のバイト数（1 記録あたり、TLS 接続・他端末への投票済配信を含む）: {self.bytes_per_event:.1f} B",
            f"判定の応答時間: p50 {self.latency_p50_ms:.0f} ms / p99 {self.latency_p99_ms:.0f} ms",
            f"全端末の収束: 回線復旧後 {self.converged_s:.1f} 秒   所要時間 {self.wall_s:.0f} 秒",
            "結果: " + ("正常（すべて一致）" if self.ok() else "異常あり"),
        ]
        return "\n".join(lines)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _meibo() -> list[str]:
    exe = Path(sys.executable).parent / "meibo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli.main"]


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(_meibo() + args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise MeiboError(f"meibo {' '.join(args[:2])} が失敗しました: {p.stderr.strip() or p.stdout.strip()}",
                         code="demo_step_failed")
    return p


@dataclass(frozen=True)
class CardDeskSettings:
    card_wait_s: float = 5.0  # pcscd sees a (virtual) card inserted / removed within this
    provisioning_stop_s: float = 10.0


class CardDesk:
    """HQ's card desk for the demo: a private pcscd with the vpcd reader, one virtual card slot and
    ``meibo hq provisioning`` (the enrollment endpoint) on a free loopback port. For each terminal a
    new blank card goes into the reader, ``meibo provision issue-card`` writes it and
    ``meibo terminal enroll`` enrolls the terminal from it (which also installs HQ's signed roll),
    exactly as an election office does with a real reader; then the used card is pulled."""

    def __init__(self, root: Path, hq: HqDir, rng: random.Random, say: Any, pcscd: PcscdService,
                 settings: CardDeskSettings) -> None:
        self.root, self.hq, self.rng, self.say, self.pcscd, self.settings = root, hq, rng, say, pcscd, settings
        self.card_pin = root / "card.pin"
        self.card_pin.write_text("135790\n", "utf-8")
        self.endpoint: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.lock = threading.Lock()

    @classmethod
    def open(cls, root: Path, hq: HqDir, rng: random.Random, say: Any,
             settings: CardDeskSettings = CardDeskSettings()) -> "CardDesk":
        import tempfile

        # a short path: the socket must fit in sun_path (108 bytes) whatever --dir is
        run_dir = Path(tempfile.mkdtemp(prefix="meibo-demo-pcscd-"))
        try:
            pcscd = start_pcscd(run_dir, fresh_process=True)  # the driver itself never spoke PC/SC
        except PcscUnavailable:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        desk = cls(root, hq, rng, say, pcscd, settings)
        try:
            desk._start_endpoint()
        except BaseException:
            desk.close()
            raise
        say(f"登録窓口を開設: PC/SC リーダー「{pcscd.reader_name(0)}」（仮想カード）、"
            f"本部の登録窓口 {desk.address}")
        return desk

    def _start_endpoint(self) -> None:
        port = _free_port()
        log = open(self.root / "provisioning.log", "wb")
        p = subprocess.Popen(_meibo() + ["hq", "provisioning", str(self.hq.root), "--listen", f"127.0.0.1:{port}",
                                         "--dev-loopback", "--json"], stdout=subprocess.PIPE, stderr=log)
        log.close()
        self.endpoint = p
        assert p.stdout is not None
        line = p.stdout.readline()
        try:
            msg = json.loads(line)
        except ValueError:
            msg = {}
        if msg.get("code") != "listening":
            raise MeiboError(f"本部の登録窓口を開けません（{self.root / 'provisioning.log'} を参照）",
                             code="demo_step_failed")
        self.address = str(msg["address"])

    def enroll(self, terminal: str, station: str, tdir: Path, supervisor_pin: Path, slot: int = 0) -> None:
        """One terminal from a new blank card in reader ``slot`` (0 or 1; the two may run at once)."""
        from hardware.cardreader.pcsc import PcscCardReader
        from provisioning.applet import blank_card
        from provisioning.virtual_card import VirtualCard, VirtualCardSettings

        reader_name = self.pcscd.reader_name(slot)
        with self.lock:
            randbytes = random.Random(self.rng.random()).randbytes
        card = VirtualCard(blank_card(randbytes), randbytes, port=self.pcscd.port(slot),
                           settings=VirtualCardSettings(connect_timeout_s=self.settings.card_wait_s))
        reader = PcscCardReader()
        card.insert()
        try:
            if not reader.wait_for_card(reader_name, self.settings.card_wait_s):
                raise MeiboError(f"仮想カードがリーダーに認識されません:\n{self.pcscd.log_tail()}",
                                 code="demo_step_failed")
            wait = str(self.settings.card_wait_s)
            t0 = time.monotonic()
            issued = json.loads(_run(["provision", "issue-card", str(self.hq.root), "--terminal", terminal,
                                      "--station", station, "--reader", reader_name,
                                      "--pin-file", str(self.card_pin), "--wait", wait, "--json"]).stdout)
            t1 = time.monotonic()
            done = json.loads(_run(["terminal", "enroll", str(tdir), "--reader", reader_name,
                                    "--pin-file", str(self.card_pin), "--supervisor-pin-file", str(supervisor_pin),
                                    "--hq", self.address, "--wait", wait, "--json"]).stdout)
            t2 = time.monotonic()
            self.say(f"  リーダー {slot}: カード {issued['serial']} を発行（{t1 - t0:.1f} 秒）→ 端末 {terminal}"
                     f"（投票所 {station}）を登録し名簿 第 {done['roll_version']} 版を導入（{t2 - t1:.1f} 秒）")
        finally:
            card.remove()
            reader.wait_for_removal(reader_name, self.settings.card_wait_s)
            reader.close()

    def close(self) -> None:
        p = self.endpoint
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(self.settings.provisioning_stop_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p is not None and p.stdout is not None:
            p.stdout.close()
        stop_pcscd(self.pcscd)
        shutil.rmtree(self.pcscd.run_dir, ignore_errors=True)


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
        self.hq_port = _free_port()
        self.hq = HqDir(root / "hq")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.proxies: dict[str, FaultProxy] = {}
        self.outcomes: list[Outcome] = []
        self.report = DemoReport(hq_address=f"127.0.0.1:{self.hq_port}")
        self.pin_file = root / "supervisor.pin"

    # --- set-up ----------------------------------------------------------------------------
    def setup(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        (self.root / "election.toml").write_text(election_toml(self.plan, self.hq_port), "utf-8")
        self.pin_file.write_text("2468\n", "utf-8")
        self.say(f"選挙を作成: 知事選挙・市長選挙（同日選挙）、投票所 {len(self.plan)} か所 → {self.root}")
        _run(["hq", "init", str(self.hq.root), "--config", str(self.root / "election.toml")])
        roll = self.root / "roll.csv"
        _run(["synth-roll", "--voters", str(self.voters), "--seed", str(self.seed), "--out", str(roll),
              "--election-day", str(ELECTION_DAY)])
        self.say(f"合成の選挙人名簿: {self.voters:,} 人 → 本部に取り込み・署名")
        _run(["roll", "import", str(self.hq.root), str(roll)])
        pkg = self.root / "roll-v1.pkg"
        _run(["roll", "publish", str(self.hq.root), "--out", str(pkg), "--full"])
        self.eligible = self._eligible_voters(roll)
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
                _run(["hq", "enroll-local", str(self.hq.root), "--terminal", s.terminal, "--station", s.station,
                      "--out", str(tdir), "--pin-file", str(self.pin_file)])
                self._open_station(tdir)
                _run(["terminal", "install-roll", str(tdir), str(pkg)])
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
        p = subprocess.run(_meibo() + ["terminal", "open", str(tdir), "--pin-file", str(self.pin_file)],
                           capture_output=True, text=True)
        if p.returncode not in (0, 2):  # 2: no such command (stores not encrypted in this build)
            raise MeiboError(f"投票所を開設できません: {p.stderr.strip()}", code="demo_step_failed")

    def _eligible_voters(self, roll: Path) -> dict[int, list[str]]:
        """Registered voters aged 18+ on Saturday, by district."""
        out: dict[int, list[str]] = {}
        with open(roll, encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                if row["状態"] not in ("", "登録"):
                    continue
                b = date.fromisoformat(row["生年月日"])
                if (SATURDAY.year - b.year - ((SATURDAY.month, SATURDAY.day) < (b.month, b.day))) < 18:
                    continue
                out.setdefault(int(row["投票区"]), []).append(row["選挙人番号"])
        return out

    # --- processes ---------------------------------------------------------------------------
    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        f = open(self.root / log, "wb")
        p = subprocess.Popen(_meibo() + args, stdout=subprocess.PIPE, stderr=f)
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
        """Arrivals by hour (a turnout curve), seconds visits and the scripted incidents."""
        rng = self.rng
        curve = [0.6, 1.0, 1.3, 1.2, 1.0, 0.9, 1.0, 1.1, 1.1, 1.0, 0.9, 0.8, 0.7]
        per_station: dict[str, list[Attempt]] = {s.station: [] for s in self.plan}
        all_districts = sorted(self.eligible)
        used: set[str] = set()

        def pick(district: int | None) -> str:
            pool = self.eligible[district] if district is not None else self.eligible[rng.choice(all_districts)]
            for _ in range(50):
                v = rng.choice(pool)
                if v not in used:
                    used.add(v)
                    return v
            return rng.choice(pool)

        base = self.n_checkins / len(self.plan)
        hours = max(1, int(self.hours))
        weights = [curve[h % len(curve)] for h in range(hours)]
        for s in self.plan:
            for h in range(hours):
                n = max(1, round(base * weights[h] / sum(weights)))
                for _ in range(n):
                    per_station[s.station].append(Attempt(7 + h + rng.random(), s.station, pick(s.district)))
        early = [s for s in self.plan if s.kind == "early"]
        sunday = [s for s in self.plan if s.kind != "early"]
        offline = next((s for s in self.plan if s.outage), None)
        # 1. voted early on Saturday, back on Sunday with the 入場券 (stopped online)
        sat = [a for s in early for a in per_station[s.station]]
        for a in rng.sample(sat, min(len(sat), max(3, len(sat) // 40))):
            st = rng.choice([s for s in sunday if s.district is None])
            per_station[st.station].append(Attempt(7 + rng.random() * (self.hours - 1), st.station, a.voter,
                                                   "second_online"))
        # 2. two Sunday stations while one of them is offline (two ballots: must be detected)
        if offline is not None:
            others = [s for s in sunday if s is not offline and s.district is None] or \
                     [s for s in sunday if s is not offline]
            for _ in range(max(2, self.n_checkins // 400)):
                # early in the outage, the offline station first: it cannot know, and the other
                # station's HQ cannot either, so both hand out ballots (HQ must flag it later)
                other = rng.choice(others)
                v = pick(other.district)
                start, end = offline.outage or (0.0, 0.0)
                t = start + 0.05 + rng.random() * 0.25 * (end - start)
                per_station[offline.station].append(Attempt(t, offline.station, v, "second_offline"))
                per_station[other.station].append(Attempt(t + 0.02, other.station, v, "second_offline"))
        # 3. voids (the voter left without voting)
        for s in self.plan:
            for a in rng.sample(per_station[s.station], max(1, len(per_station[s.station]) // 200)):
                a.kind = "void" if a.kind == "normal" else a.kind
        for lst in per_station.values():
            lst.sort(key=lambda a: a.at_hour)
        return per_station

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
        from hq.admin_client import ask_admin
        from hq.server import ADMIN_SOCKET

        try:
            return await ask_admin(self.hq.root / ADMIN_SOCKET, {"op": "report"}, timeout=5.0) or {}
        except (OSError, ValueError, asyncio.TimeoutError):
            return {}

    async def absentee(self, voter: str) -> None:
        from hq.admin_client import ask_admin
        from hq.server import ADMIN_SOCKET

        out = await ask_admin(self.hq.root / ADMIN_SOCKET, {"op": "absentee", "voter": voter,
                                                        "now": f"{SATURDAY}T12:00:00+09:00"})
        if out and out.get("code") == "ok":
            self.report.absentee += 1
            self.say(f"    本部: 不在者投票を記録（選挙人 {voter}）→ 全端末に配信")

    async def revoke(self, s: StationPlan) -> None:
        await asyncio.to_thread(_run, ["hq", "revoke", str(self.hq.root), s.terminal, "--reason", "端末紛失（デモ）"])
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
        from hq.store import HqStore

        r = self.report
        stats: dict[str, dict[str, int]] = {s.station: {"checkins": 0, "offline": 0, "stopped": 0, "refused": 0}
                                           for s in self.plan}
        ballots: dict[tuple[str, str], int] = {}
        latencies = []
        for o in self.outcomes:
            st = stats[o.attempt.station]
            handed = [c for c in o.handed if c not in o.withheld]
            if o.withheld or any(code == "already_voted" for code in o.refused.values()):
                r.stopped_online += 1
                st["stopped"] += 1
            if handed:
                st["checkins"] += 1
                r.checkins += 1
                if o.provisional:
                    st["offline"] += 1
                    r.offline_checkins += 1
            elif o.refused and not o.withheld:
                st["refused"] += 1
            if o.voided:
                r.voids += 1
                continue
            for c in handed:
                ballots[(o.attempt.voter, c)] = ballots.get((o.attempt.voter, c), 0) + 1
            if o.latency_ms is not None:
                latencies.append(o.latency_ms)
        r.per_station = stats
        r.injected_double_votes = sum(1 for n in ballots.values() if n >= 2)
        rep = await self._hq_report()
        r.detected_double_votes = int(rep.get("active_alerts", -1))
        if latencies:
            ordered = sorted(latencies)
            r.latency_p50_ms = statistics.median(ordered)
            r.latency_p99_ms = ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]
        # every check-in a poll worker was told about must be at HQ, and every journal event too
        store = HqStore(self.hq)
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


def run_demo(root: Path, *, stations: int = 6, voters: int = 100_000, hours: float = 13, speed: float = 600,
             checkins: int = 2400, seed: int = 1, say: Any = print) -> DemoReport:
    demo = Demo(root, stations, voters, hours, speed, checkins, seed, say)
    demo.setup()
    return asyncio.run(demo.run())


# --- the windows after the day (--console / --kiosk) -------------------------------------------
def display_available(env: dict[str, str]) -> bool:
    """A window can open: SDL has a driver named (offscreen included) or X has a display."""
    return bool(env.get("SDL_VIDEODRIVER") or env.get("DISPLAY"))


def kiosk_station(stations: int, revoked: str) -> StationPlan:
    """The terminal whose kiosk ``--kiosk`` opens: the first election-day station still enrolled."""
    plan = plan_stations(stations)
    return next(s for s in plan if s.kind != "early" and s.terminal != revoked)


def gui_commands(root: Path, report: DemoReport, stations: int, *, console: bool,
                 kiosk: bool) -> list[tuple[str, list[str]]]:
    """(label, meibo arguments) for each window asked for. The console serves HQ itself when
    ``meibo hq serve`` is not running (the demo stopped it); the kiosk syncs with that HQ and
    its clock stands at 19:00 on election day, so it still takes check-ins."""
    out: list[tuple[str, list[str]]] = []
    if console:
        out.append(("本部の監視画面", ["console", str(root / "hq"), "--dev-loopback"]))
    if kiosk:
        s = kiosk_station(stations, report.revoked)
        out.append((f"受付端末 {s.terminal}（{s.name}）の画面",
                    ["kiosk", str(root / s.terminal), "--hq", report.hq_address,
                     "--now", f"{ELECTION_DAY}T19:00:00+09:00"]))
    return out


@dataclass(frozen=True)
class GuiSettings:
    settle_s: float = 4.0  # a window that dies at once (no Kivy, no display) does so within this


def open_windows(root: Path, windows: list[tuple[str, list[str]]], env: dict[str, str], say: Any,
                 settings: GuiSettings = GuiSettings()) -> list[dict[str, Any]]:
    """Start each window as its own process (it outlives the demo command) when a display is
    available; otherwise say how to open it. Returns what happened, for the JSON report."""
    out: list[dict[str, Any]] = []
    shown = display_available(env)
    for label, args in windows:
        cmd = "meibo " + " ".join(args)
        if not shown:
            say(f"{label}: 画面（DISPLAY または SDL_VIDEODRIVER）がないため開きません。開くには: {cmd}")
            out.append({"window": args[0], "started": False, "command": cmd})
            continue
        log = root / f"{args[0]}.log"
        with open(log, "wb") as f:
            p = subprocess.Popen(_meibo() + args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)
        try:
            p.wait(settings.settle_s)
        except subprocess.TimeoutExpired:
            say(f"{label}を開きました（pid {p.pid}、ウィンドウを閉じると終了）: {cmd}")
            out.append({"window": args[0], "started": True, "pid": p.pid, "command": cmd, "log": str(log)})
            continue
        tail = log.read_text("utf-8", "replace").strip().splitlines()[-3:]
        say(f"{label}を開けませんでした（終了コード {p.returncode}、{log}）: {' / '.join(tail)}。開くには: {cmd}")
        out.append({"window": args[0], "started": False, "exit": p.returncode, "command": cmd, "log": str(log)})
    return out
