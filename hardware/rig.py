"""The station's devices as one bundle, and the simulated rig the demo and tests drive.

Owns: ``TerminalHardware``, the small async API ``meibo terminal run`` wires in (it starts the
drivers, keeps the modems fresh, dual failover when two, and fans out status snapshots and scan
events); ``HardwareSnapshot``; ``probe`` (read each device once, for ``meibo terminal status``);
and ``SimRig`` / ``start_sim``, simulated modems and a scanner on real ptys driven by typed
domain actions (``meibo hardware sim``). Stands on the ground alone: never imports the store, the
sync agent, the CLI or Kivy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ground.clock import Clock
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
