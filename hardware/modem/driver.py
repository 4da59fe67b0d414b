"""The real LTE modem driver: pyserial on the port, the pure ``AtParser`` on the bytes.

Owns: opening the port, one AT command at a time with a timeout from ``ModemSettings``, the
start-up sequence, turning answers into ``ModemStatus`` and foreign errors into ``ModemError``s.
Reads via ``loop.add_reader`` on the port's fd (no threads; ``hardware.serial_port``). URCs are applied whenever they
arrive, including between the lines of another command's response (the parser sorts them out).
Never imports the simulator; never reads the time except through the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Callable

import serial

from ground.clock import Clock, SystemClock
from hardware.modem.base import (ModemClosed, ModemCommandFailed, ModemError, ModemNotResponding,
                                 ModemPortUnavailable, ModemState, ModemStatus, Registration, SimMissing,
                                 SimPinRequired, Subscribers)
from hardware.modem.parser import (AtParser, CmeError, Response, Urc, parse_cereg_read, parse_cgdcont,
                                   parse_cgpaddr, parse_cops, parse_cpin, parse_csq)
from hardware.serial_port import PortUnavailable, SerialFactory, SerialPort
from hardware.settings import ModemSettings


def open_serial(path: str) -> Any:
    """Open ``path`` raw, non-blocking reads (timeout=0), 115200 8N1 (ignored by USB-CDC)."""
    return serial.Serial(path, baudrate=115200, timeout=0, write_timeout=1.0, exclusive=True)


class SerialModem:
    """One LTE modem on one serial port. Implements ``hardware.modem.base.Modem``."""

    def __init__(self, path: str, *, closed_apn: str | None, settings: ModemSettings = ModemSettings(),
                 clock: Clock | None = None, name: str | None = None,
                 serial_factory: SerialFactory = open_serial) -> None:
        self.path = path
        self._name = name or path
        self._closed_apn = closed_apn
        self._settings = settings
        self._clock: Clock = clock or SystemClock()
        self._parser = AtParser(settings.max_line_bytes)
        self._port = SerialPort(path, serial_factory, read_bytes=settings.max_line_bytes * 4,
                                on_data=self._received, on_lost=lambda _reason: self._port_lost())
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future[Response] | None = None
        self._subs: Subscribers[ModemStatus] = Subscribers()
        self._status = ModemStatus(self._name, ModemState.STARTING, closed_apn=closed_apn)
        self._closed = False
        self._flush_before_next = False  # set after a timeout: a late answer must not be misread
        self.stray_lines = 0  # late answers and noise, for diagnostics

    # --- Modem protocol ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def status(self) -> ModemStatus:
        return self._status

    def add_listener(self, callback: Callable[[ModemStatus], None]) -> Callable[[], None]:
        return self._subs.add_listener(callback)

    def status_queue(self) -> "asyncio.Queue[ModemStatus]":
        return self._subs.queue()

    async def start(self, *, configure: bool = True) -> ModemStatus:
        """AT, ATE0, AT+CPIN?, AT+CEREG=1, [AT+CGDCONT=1,"IP","<closed apn>"], then ``refresh()``."""
        self._open()
        for attempt in range(self._settings.startup_attempts):
            try:
                await self.command("AT")
                break
            except ModemNotResponding:
                if attempt == self._settings.startup_attempts - 1:
                    raise
        await self._expect_ok("ATE0")
        await self._check_sim()
        await self._expect_ok("AT+CEREG=1")  # enable +CEREG: <stat> URCs
        if configure and self._closed_apn:
            await self._expect_ok(f'AT+CGDCONT=1,"IP","{self._closed_apn}"')
        return await self.refresh()

    async def refresh(self) -> ModemStatus:
        """AT+CPIN?, AT+CGDCONT?, AT+CEREG?, AT+COPS?, AT+CSQ, AT+CGPADDR=1 → a new status."""
        self._open()
        await self._check_sim()
        apn = parse_cgdcont((await self._expect_ok("AT+CGDCONT?")).lines)
        reg = parse_cereg_read((await self._expect_ok("AT+CEREG?")).lines)
        carrier = parse_cops((await self._expect_ok("AT+COPS?", self._settings.operator_timeout_s)).lines)
        rssi = parse_csq((await self._expect_ok("AT+CSQ")).lines)
        addr = parse_cgpaddr((await self._expect_ok("AT+CGPADDR=1")).lines)
        if addr in ("0.0.0.0", "::"):
            addr = None
        self._set(ModemStatus(self._name, ModemState.READY, registration=reg,
                              carrier=carrier if reg.registered else None, rssi=rssi, apn=apn,
                              closed_apn=self._closed_apn, address=addr if reg.registered else None,
                              at=self._clock.now()))
        return self._status

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._port.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ModemClosed(f"{self._name}: 停止しました"))
        self._set(replace(self._status, state=ModemState.CLOSED))

    async def run(self, *, configure: bool = True) -> None:
        """Keep the modem started and its status fresh until ``close()``. Errors go to the status."""
        started = False
        while not self._closed:
            try:
                if not started:
                    await self.start(configure=configure)
                    started = True
                else:
                    await self.refresh()
                delay = self._settings.poll_interval_s
            except ModemClosed:
                return
            except ModemError:
                started = False  # start again: the modem may have rebooted (echo back on, APN lost)
                delay = self._settings.reopen_interval_s
            await asyncio.sleep(delay)

    # --- commands ------------------------------------------------------------------------
    async def command(self, cmd: str, timeout: float | None = None) -> Response:
        """Send one AT command; return its response (any final code); raise on timeout."""
        async with self._lock:
            self._open()
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            if self._flush_before_next:
                self._flush_before_next = False
                self._port.reset_input()
            data = self._parser.send(cmd)
            try:
                self._port.write(data)
            except PortUnavailable as e:
                self._parser.abandon()
                self._port_lost()
                raise ModemPortUnavailable(f"{self._name}: ポートに書き込めません ({e})") from e
            try:
                return await asyncio.wait_for(self._waiter, timeout or self._settings.command_timeout_s)
            except asyncio.TimeoutError:
                self._parser.abandon()
                self._flush_before_next = True
                self._set(replace(self._status, state=ModemState.NOT_RESPONDING,
                                  error=ModemNotResponding.code, at=self._clock.now()))
                raise ModemNotResponding(f"{self._name}: モデムが応答しません（{cmd}）", command=cmd) from None
            finally:
                self._waiter = None

    async def _expect_ok(self, cmd: str, timeout: float | None = None) -> Response:
        r = await self.command(cmd, timeout)
        if isinstance(r.result, CmeError) and r.result.code == 10:
            self._sim_missing()
        if not r.ok:
            raise ModemCommandFailed(f"{self._name}: コマンドが失敗しました: {cmd} → {r.result}", command=cmd,
                                     result=str(r.result))
        return r

    async def _check_sim(self) -> None:
        r = await self.command("AT+CPIN?")
        if isinstance(r.result, CmeError) and r.result.code in (10, 13):
            self._sim_missing()
        code = parse_cpin(r.lines)
        if not r.ok:
            raise ModemCommandFailed(f"{self._name}: SIM の状態を読めません: {r.result}", command="AT+CPIN?")
        if code != "READY":
            self._set(ModemStatus(self._name, ModemState.SIM_PIN, closed_apn=self._closed_apn,
                                  error=SimPinRequired.code, at=self._clock.now()))
            raise SimPinRequired(f"{self._name}: SIM の PIN が必要です（{code}）", sim=code)

    def _sim_missing(self) -> None:
        self._set(ModemStatus(self._name, ModemState.SIM_MISSING, closed_apn=self._closed_apn,
                              error=SimMissing.code, at=self._clock.now()))
        raise SimMissing(f"{self._name}: SIM が挿入されていません")

    # --- port ----------------------------------------------------------------------------
    def _open(self) -> None:
        if self._closed:
            raise ModemClosed(f"{self._name}: 停止しています")
        if self._port.is_open:
            return
        try:
            self._port.open()
        except PortUnavailable as e:
            self._set(replace(self._status, state=ModemState.PORT_UNAVAILABLE,
                              error=ModemPortUnavailable.code, at=self._clock.now()))
            raise ModemPortUnavailable(f"{self._name}: ポートを開けません: {self.path} ({e})") from e
        self._parser = AtParser(self._settings.max_line_bytes)

    def _received(self, data: bytes) -> None:
        for ev in self._parser.feed(data):
            if isinstance(ev, Response):
                if self._waiter is not None and not self._waiter.done():
                    self._waiter.set_result(ev)
            elif isinstance(ev, Urc):
                self._on_urc(ev)
            else:
                self.stray_lines += 1

    def _on_urc(self, urc: Urc) -> None:
        if urc.registration is None or self._status.state is not ModemState.READY:
            return
        reg: Registration = urc.registration
        if reg != self._status.registration:
            self._set(replace(self._status, registration=reg, at=self._clock.now()))

    def _port_lost(self) -> None:
        self._port.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ModemPortUnavailable(f"{self._name}: ポートが切断されました"))
        if not self._closed:
            self._set(replace(self._status, state=ModemState.PORT_UNAVAILABLE,
                              error=ModemPortUnavailable.code, at=self._clock.now()))

    def _set(self, status: ModemStatus) -> None:
        if status != self._status:
            self._status = status
            self._subs.publish(status)
