"""Hardware commands and the station's device bundle.

Owns: ``meibo hardware sim`` (simulated modems and scanner on real ptys, driven by domain actions
typed on stdin), ``meibo terminal status TDIR --modem PATH --scanner PATH`` (each device's state),
and ``TerminalHardware``, the small async API ``meibo terminal run`` wires in: it starts the drivers,
keeps the modems fresh (dual failover when two), and fans out status snapshots and scan events.
Never imports the store, the sync agent or Kivy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

from appliance.barcode import make_barcode
from ground.clock import Clock, SystemClock
from ground.errors import UsageError
from ground.model import BarcodeFormat, ElectionConfig
from hardware.modem.base import Modem, ModemError, ModemStatus, Subscribers
from hardware.modem.driver import SerialModem
from hardware.modem.dual import DualModem, HealthCheck, SwitchRecord
from hardware.modem.simulator import ModemPtyServer, ModemSimulator
from hardware.scanner.base import ScanEvent, Scanner, ScannerStatus
from hardware.scanner.driver import SerialScanner
from hardware.scanner.simulator import ScannerPtyServer, ScannerSimulator
from hardware.settings import DualModemSettings, ModemSettings, ScannerSettings, Suffix


# --- the station's devices, for `meibo terminal run` -------------------------------------------

@dataclass(frozen=True)
class HardwareSnapshot:
    """Every device at one moment: what the kiosk's status bar shows."""

    modems: tuple[ModemStatus, ...]
    active_modem: str | None
    switches: tuple[SwitchRecord, ...]
    scanner: ScannerStatus | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def online_capable(self) -> bool:
        """A registered modem on the closed APN carries the link (the HQ path is the sync agent's)."""
        return any(m.registered and m.apn_check.value == "ok" and (self.active_modem in (None, m.name))
                   for m in self.modems)

    def as_dict(self) -> dict[str, Any]:
        return {"modems": [m.as_dict() for m in self.modems], "active_modem": self.active_modem,
                "switches": [s.as_dict() for s in self.switches],
                "scanner": self.scanner.as_dict() if self.scanner else None}

    def text_ja(self) -> str:
        lines = [m.text_ja() + ("（使用中）" if m.name == self.active_modem else "") for m in self.modems]
        lines.append(self.scanner.text_ja() if self.scanner else "スキャナ: 指定なし")
        return "\n".join(lines)


async def _always_ok(name: str) -> bool:
    return True


class TerminalHardware:
    """Starts the drivers, keeps modem status fresh, fans out snapshots and scan events.

    ``on_status(cb)`` / ``status_queue()`` get a ``HardwareSnapshot`` whenever any device changes;
    ``on_scan(cb)`` / ``scan_queue()`` get every ``ScanEvent``. ``async with`` starts and closes.
    """

    def __init__(self, modems: Sequence[Modem], scanner: Scanner | None, *, clock: Clock,
                 health_check: HealthCheck | None = None, modem_settings: ModemSettings = ModemSettings(),
                 dual_settings: DualModemSettings = DualModemSettings()) -> None:
        if len(modems) > 2:
            raise UsageError("モデムは 2 台までです", code="too_many_modems")
        self.modems = list(modems)
        self.scanner = scanner
        self._clock = clock
        self._modem_settings = modem_settings
        self.dual = (DualModem(self.modems, health_check or _always_ok, clock=clock, settings=dual_settings)
                     if len(self.modems) == 2 else None)
        self._status_subs: Subscribers[HardwareSnapshot] = Subscribers()
        self._scan_subs: Subscribers[ScanEvent] = Subscribers()
        self._tasks: list[asyncio.Task[None]] = []
        for m in self.modems:
            m.add_listener(lambda _s: self._publish())
        if self.dual is not None:
            self.dual.add_listener(lambda _r: self._publish())
        if scanner is not None:
            scanner.add_listener(self._on_scan)

    @classmethod
    def from_paths(cls, modem_paths: Sequence[str], scanner_path: str | None, *, config: ElectionConfig,
                   clock: Clock, health_check: HealthCheck | None = None,
                   modem_settings: ModemSettings = ModemSettings(),
                   scanner_settings: ScannerSettings = ScannerSettings(),
                   dual_settings: DualModemSettings = DualModemSettings()) -> "TerminalHardware":
        modems = [SerialModem(p, name=f"lte{i + 1}", closed_apn=config.closed_apn, settings=modem_settings,
                              clock=clock) for i, p in enumerate(modem_paths)]
        scanner = (SerialScanner(scanner_path, config.barcode, settings=scanner_settings, clock=clock,
                                 name="scanner") if scanner_path else None)
        return cls(modems, scanner, clock=clock, health_check=health_check, modem_settings=modem_settings,
                   dual_settings=dual_settings)

    def snapshot(self) -> HardwareSnapshot:
        active = self.dual.active if self.dual else (self.modems[0].name if self.modems else None)
        return HardwareSnapshot(tuple(m.status for m in self.modems), active,
                                tuple(self.dual.switches) if self.dual else (),
                                self.scanner.status if self.scanner else None)

    def on_status(self, cb: Callable[[HardwareSnapshot], None]) -> Callable[[], None]:
        return self._status_subs.add_listener(cb)

    def status_queue(self) -> "asyncio.Queue[HardwareSnapshot]":
        return self._status_subs.queue()

    def on_scan(self, cb: Callable[[ScanEvent], None]) -> Callable[[], None]:
        return self._scan_subs.add_listener(cb)

    def scan_queue(self) -> "asyncio.Queue[ScanEvent]":
        return self._scan_subs.queue()

    def _publish(self) -> None:
        self._status_subs.publish(self.snapshot())

    def _on_scan(self, ev: ScanEvent) -> None:
        self._scan_subs.publish(ev)
        self._publish()

    async def start(self) -> "TerminalHardware":
        if self.scanner is not None:
            await self.scanner.start()
        for m in self.modems:
            self._tasks.append(asyncio.create_task(self._keep_modem(m), name=f"modem:{m.name}"))
        if self.dual is not None:
            self._tasks.append(asyncio.create_task(self.dual.run(), name="dual-modem"))
        return self

    async def _keep_modem(self, m: Modem) -> None:
        """Start the modem and, without a DualModem doing it, refresh it every poll interval."""
        started = False
        while True:
            try:
                if not started:
                    await m.start()
                    started = True
                elif self.dual is None:
                    await m.refresh()
                wait = self._modem_settings.poll_interval_s
            except ModemError:
                started = False
                wait = self._modem_settings.reopen_interval_s
            if started and self.dual is not None:
                return  # the DualModem refreshes both from here on
            await asyncio.sleep(wait)

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.dual is not None:
            self.dual.close()
        for m in self.modems:
            await m.close()
        if self.scanner is not None:
            await self.scanner.close()

    async def __aenter__(self) -> "TerminalHardware":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- meibo hardware sim ----------------------------------------------------------------------

HELP_ACTIONS = """操作（1 行に 1 つ。M はモデム番号 1 or 2、省略時 1）:
  scan CODE | voter ID | noisy | flip CODE | unplug | plug
  signal BARS [M] | rssi N [M] | deregister [M] | register [M] | roaming [M]
  sim-missing [M] | sim-insert [M] | sim-pin [M] | hang [M] | recover [M] | apn APN [M] | apn-ok [M]
  status | help | quit"""


@dataclass
class SimRig:
    modems: list[ModemSimulator]
    modem_servers: list[ModemPtyServer]
    scanner: ScannerSimulator | None
    scanner_server: ScannerPtyServer | None
    fmt: BarcodeFormat
    rng: random.Random

    def paths(self) -> dict[str, Any]:
        return {"modems": [s.path for s in self.modem_servers],
                "scanner": self.scanner_server.path if self.scanner_server else None}

    def state(self) -> dict[str, Any]:
        return {"modems": [{"carrier": m.state.carrier, "sim": m.state.sim, "registration": m.state.registration.value,
                            "rssi": m.state.rssi, "apn": m.active_apn, "hung": m.state.hung} for m in self.modems],
                "scanner": {"plugged": self.scanner.plugged} if self.scanner else None}

    def act(self, line: str) -> tuple[str, str]:
        """Apply one typed action; return (code, Japanese text). Raises UsageError on bad input."""
        words = line.split()
        if not words:
            return "noop", ""
        verb, args = words[0].lower(), words[1:]

        def modem(i: int) -> ModemSimulator:
            n = int(args[i]) if len(args) > i else 1
            if not 1 <= n <= len(self.modems):
                raise UsageError(f"モデム {n} はありません（{len(self.modems)} 台）", code="no_such_modem")
            return self.modems[n - 1]

        def scanner() -> ScannerSimulator:
            if self.scanner is None:
                raise UsageError("スキャナは起動していません（--scanner）", code="no_scanner")
            return self.scanner

        try:
            if verb == "scan" and args:
                scanner().scan(args[0])
                return "scanned", f"読み取り: {args[0]}"
            if verb == "voter" and args:
                code = scanner().scan_voter(args[0], self.fmt)
                return "scanned", f"読み取り: {code}（選挙人番号 {args[0]}）"
            if verb == "noisy":
                scanner().scan_garbage(self.rng)
                return "scanned", "雑音を送りました"
            if verb == "flip" and args:
                return "scanned", f"1 桁誤読: {scanner().scan_flipped(args[0], self.rng)}"
            if verb == "unplug":
                scanner().unplug()
                return "unplugged", "スキャナを切断しました"
            if verb == "plug":
                scanner().plug()
                return "plugged", "スキャナを接続しました"
            if verb == "signal" and args:
                modem(1).set_signal_bars(int(args[0]))
                return "signal", f"電波 {int(args[0])} 本"
            if verb == "rssi" and args:
                modem(1).set_rssi(int(args[0]))
                return "signal", f"rssi {int(args[0])}"
            simple: dict[str, tuple[Callable[[ModemSimulator], None], str]] = {
                "deregister": (lambda m: m.deregister(), "圏外（登録解除）"),
                "register": (lambda m: m.register(), "登録"),
                "roaming": (lambda m: m.register(roaming=True), "ローミング登録"),
                "sim-missing": (lambda m: m.remove_sim(), "SIM を抜きました"),
                "sim-insert": (lambda m: m.insert_sim(), "SIM を挿しました"),
                "sim-pin": (lambda m: m.require_pin(), "SIM が PIN を要求します"),
                "hang": (lambda m: m.hang(), "モデムが応答しなくなりました"),
                "recover": (lambda m: m.recover(), "モデムが復帰しました"),
                "apn-ok": (lambda m: m.force_apn(None), "APN の上書きをやめました"),
            }
            if verb in simple:
                fn, text = simple[verb]
                fn(modem(0))
                return verb.replace("-", "_"), text
            if verb == "apn" and args:
                modem(1).force_apn(args[0])
                return "apn", f"APN を {args[0]} に上書き（閉域 APN でなければ特定通信④違反）"
        except (ValueError, KeyError) as e:
            raise UsageError(f"操作の引数が読めません: {line!r} ({e})", code="bad_action")
        if verb == "status":
            return "status", json.dumps(self.state(), ensure_ascii=False)
        if verb == "help":
            return "help", HELP_ACTIONS
        raise UsageError(f"知らない操作です: {line!r}（help で一覧）", code="bad_action")


async def start_sim(n_modems: int, with_scanner: bool, *, link_dir: Path, forced_apn: str | None,
                    suffix: Suffix, fmt: BarcodeFormat, seed: int) -> SimRig:
    carriers = ["SIM-CARRIER-A", "SIM-CARRIER-B"]
    modems = [ModemSimulator(carrier=carriers[i % 2], address=f"10.64.{i}.2") for i in range(n_modems)]
    for m in modems:
        if forced_apn:
            m.force_apn(forced_apn)
    servers = [await ModemPtyServer(m, link_dir / f"modem{i + 1}").start() for i, m in enumerate(modems)]
    scanner = ScannerSimulator(suffix) if with_scanner else None
    sserver = await ScannerPtyServer(scanner, link_dir / "scanner").start() if scanner else None
    return SimRig(modems, servers, scanner, sserver, fmt, random.Random(seed))


async def _stdin_lines() -> "asyncio.Queue[str | None]":
    """Lines typed on stdin (None at end). Pipes and ttys are read as they come; files at once."""
    q: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
        # epoll refuses regular files and /dev/null (EPERM, raised later from a callback):
        # only pipes, sockets and terminals are read as they come.
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(sys.stdin.fileno())):
            raise ValueError("not a pipe")
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError):
        for line in sys.stdin.read().splitlines():
            q.put_nowait(line)
        q.put_nowait(None)
        return q

    async def pump() -> None:
        while True:
            raw = await reader.readline()
            if not raw:
                q.put_nowait(None)
                return
            q.put_nowait(raw.decode("utf-8", errors="replace").strip())
    loop.create_task(pump())
    return q


def _cmd_sim(args: argparse.Namespace) -> Any:
    from appliance.cli import Outcome

    if not 0 <= args.modem <= 2:
        raise UsageError("--modem は 0〜2 台です", code="bad_modem_count")
    if args.modem == 0 and not args.scanner:
        raise UsageError("--modem N か --scanner を指定してください", code="nothing_to_simulate")
    fmt = BarcodeFormat(prefix=args.prefix)

    async def main() -> dict[str, Any]:
        link_dir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="meibo-hw-"))
        rig = await start_sim(args.modem, args.scanner, link_dir=link_dir, forced_apn=args.apn,
                              suffix=Suffix(args.suffix), fmt=fmt, seed=args.seed)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        paths = rig.paths()
        if args.json:
            print(json.dumps({"code": "started", **paths}, ensure_ascii=False), flush=True)
        else:
            for i, p in enumerate(paths["modems"]):
                print(f"モデム{i + 1}: {p}", flush=True)
            if paths["scanner"]:
                print(f"スキャナ: {paths['scanner']}", flush=True)
            print("操作を入力してください（help で一覧、quit で終了）", flush=True)
        lines = await _stdin_lines()
        actions = 0
        stdin_open = True
        while not stop.is_set():
            getter = asyncio.ensure_future(lines.get()) if stdin_open else None
            waiter = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({t for t in (getter, waiter) if t},
                                         timeout=args.duration, return_when=asyncio.FIRST_COMPLETED)
            for t in (getter, waiter):
                if t is not None and t not in done:
                    t.cancel()
            if not done:
                break  # --duration elapsed
            if getter is None or getter not in done:
                continue
            line = getter.result()
            if line is None:
                stdin_open = False  # keep serving the ptys until a signal (or --duration)
                continue
            if line.strip().lower() in ("quit", "exit"):
                break
            try:
                code, text = rig.act(line)
            except UsageError as e:
                code, text = e.code, f"エラー: {e.message}"
            if code != "noop":
                actions += 1
                print(json.dumps({"code": code, "text": text}, ensure_ascii=False) if args.json else text,
                      flush=True)
        for s in rig.modem_servers:
            await s.close()
        if rig.scanner_server:
            await rig.scanner_server.close()
        return {"code": "ok", "stopped": True, "actions": actions, **paths}

    data = asyncio.run(main())
    return Outcome(data, f"シミュレータを停止しました（操作 {data['actions']} 件）")


# --- meibo terminal status -------------------------------------------------------------------

async def probe(modem_paths: Sequence[str], scanner_path: str | None, *, config: ElectionConfig,
                timeout_s: float, clock: Clock) -> HardwareSnapshot:
    """Read each device once without changing its configuration (no AT+CGDCONT=)."""
    ms = ModemSettings(command_timeout_s=timeout_s, operator_timeout_s=timeout_s * 2, startup_attempts=2)
    statuses = []
    for i, p in enumerate(modem_paths):
        m = SerialModem(p, name=f"lte{i + 1}", closed_apn=config.closed_apn, settings=ms, clock=clock)
        try:
            await m.start(configure=False)
        except ModemError:
            pass  # the status says what went wrong
        statuses.append(m.status)
        await m.close()
    scanner_status = None
    if scanner_path:
        s = SerialScanner(scanner_path, config.barcode, clock=clock, name="scanner")
        await s.start()
        scanner_status = s.status
        await s.close()
    return HardwareSnapshot(tuple(statuses), statuses[0].name if statuses else None, (), scanner_status)


def _cmd_status(args: argparse.Namespace) -> Any:
    from appliance.cli import Outcome
    from ground.clock import clock_from_arg
    from appliance.dirs import TerminalDir

    config = TerminalDir(Path(args.tdir)).config()
    clock = clock_from_arg(getattr(args, "now", None))
    snap = asyncio.run(probe(args.modem or [], args.scanner, config=config, timeout_s=args.timeout, clock=clock))
    problems = [m.name for m in snap.modems if not m.registered or m.apn_check.value != "ok"]
    if snap.scanner is not None and not snap.scanner.connected:
        problems.append(snap.scanner.name)
    code = "hardware_problem" if problems else "ok"
    text = snap.text_ja() if (snap.modems or snap.scanner) else "機器が指定されていません（--modem / --scanner）"
    return Outcome({"code": code, "problems": problems, **snap.as_dict()}, text, 1 if problems else 0)


def _has(cli: Any, group: str, name: str) -> bool:
    subs = cli.groups.get(group)
    return subs is not None and name in getattr(subs, "choices", {})


def register(cli: Any) -> None:
    """Add this package's commands to the ``meibo`` parser."""
    p = cli.command("hardware", "sim", _cmd_sim,
                    "模擬機器（LTE モデム・バーコードスキャナ）を pty で起動し、標準入力の操作で状態を変える")
    p.add_argument("--modem", type=int, default=0, metavar="N", help="模擬モデムの台数（0〜2）")
    p.add_argument("--scanner", action="store_true", help="模擬スキャナを起動する")
    p.add_argument("--apn", default=None, help="SIM が強制する APN（閉域 APN 以外なら特定通信④違反を再現）")
    p.add_argument("--suffix", choices=[s.value for s in Suffix], default="cr", help="スキャナの終端文字")
    p.add_argument("--prefix", default="", help="voter 操作で作るバーコードの識別番号（election.toml の barcode.prefix）")
    p.add_argument("--dir", default=None, help="機器パス（シンボリックリンク）を置くディレクトリ")
    p.add_argument("--seed", type=int, default=0, help="雑音・誤読の乱数の種")
    p.add_argument("--duration", type=float, default=None, help="この秒数で終了する（デモ・試験用）")
    if not _has(cli, "terminal", "status"):
        p = cli.command("terminal", "status", _cmd_status, "端末の機器（モデム・スキャナ）の状態を表示する")
        p.add_argument("tdir", metavar="TDIR")
        p.add_argument("--modem", action="append", metavar="PATH", help="モデムのシリアルポート（2 台なら 2 回）")
        p.add_argument("--scanner", metavar="PATH", help="スキャナのシリアルポート")
        p.add_argument("--timeout", type=float, default=2.0, help="AT コマンド 1 つの待ち時間（秒）")
        p.add_argument("--now", default=None, help="現在時刻（ISO 8601）")
