"""Asyncio TCP fault proxy (回線エミュレータ): real sockets over an emulated LTE link.

Listens on a loopback (or test-namespace) address, forwards every connection to one upstream and
applies a ``LinkModel`` per direction: delay, jitter, rate, loss-burst retransmission delay,
handover holds, and outages that cut connections. Bytes keep their order within a connection
(one queue per direction, delivery times never go backwards). TLS passes through untouched.

What it owns: sockets and timers only; every decision about *when* comes from ``lte_link``.
Must never import the terminal's store or the sync protocol's state machines.
Only loopback (127.0.0.0/8, ::1) and the test namespaces' 10.99.0.0/16 may be listened on or
forwarded to: this tool must never become a relay towards anything real.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from ground.clock import Clock, to_jst
from sync_protocol.lte_link import (Direction, LinkConfigInvalid, LinkModel, LinkProfile,
                                    LinkState, OrderedPipe, ScheduleEntry, Window,
                                    profile_named, schedule_windows)

_ALLOWED_NETS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
                 ipaddress.ip_network("10.99.0.0/16"))


@dataclass(frozen=True)
class ProxySettings:
    """Sizes and timeouts of the proxy (STYLE rule 9)."""

    read_size: int = 16384          # bytes read from a socket at once
    segment_bytes: int = 4096       # larger reads are scheduled in segments, so rate shapes smoothly
    queue_segments: int = 256       # per direction; a full queue stops reading (TCP back-pressure)
    connect_timeout_s: float = 10.0  # upstream connect
    handshake_delay: bool = True    # delay the upstream connect by one emulated RTT (SYN/SYN-ACK)


@dataclass
class DirectionStats:
    bytes_in: int = 0    # read from the sender
    bytes_out: int = 0   # written to the receiver ("on the wire" for the benchmarks)
    chunks_out: int = 0


@dataclass
class LinkStats:
    """What crossed the link since start; ``stats()`` returns a copy."""

    up: DirectionStats = field(default_factory=DirectionStats)      # terminal → HQ
    down: DirectionStats = field(default_factory=DirectionStats)    # HQ → terminal
    connections_total: int = 0     # accepted and forwarded upstream
    connections_active: int = 0
    connections_refused: int = 0   # arrived while the link was down (reset at once)
    connections_cut: int = 0       # reset by an outage
    upstream_failures: int = 0     # upstream did not accept

    def as_dict(self) -> dict[str, Any]:
        return {"up": vars(self.up).copy(), "down": vars(self.down).copy(),
                "connections_total": self.connections_total,
                "connections_active": self.connections_active,
                "connections_refused": self.connections_refused,
                "connections_cut": self.connections_cut,
                "upstream_failures": self.upstream_failures}


def check_local(host: str, what: str) -> None:
    """Refuse any address outside loopback and the test namespaces."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost":
            return
        raise LinkConfigInvalid(f"{what} のアドレス {host!r} は IP アドレスではありません",
                                code="bad_address") from None
    if not any(ip in n for n in _ALLOWED_NETS):
        raise LinkConfigInvalid(
            f"{what} のアドレス {host} は使えません（127.0.0.0/8 か試験用 10.99.0.0/16 のみ）",
            code="address_not_local")


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP reset (SO_LINGER 0), the way a cut link looks to both ends."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Conn:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None
        self.cut = False

    def reset(self) -> None:
        self.cut = True
        _rst(self.client)
        _rst(self.upstream)
        if self.task is not None:
            self.task.cancel()


class FaultProxy:
    """TCP proxy listening on ``listen`` and forwarding to ``upstream`` through a ``LinkModel``.

    ``rng`` seeds the model. ``schedule`` entries (Japan time of day) are placed against
    ``clock.now()`` at ``start()``; ``speed`` compresses the schedule axis only. ``clock`` is read
    once; it is only needed when ``schedule`` is given.
    """

    def __init__(self, upstream: tuple[str, int], *, rng: random.Random,
                 profile: LinkProfile | str = "good", listen: tuple[str, int] = ("127.0.0.1", 0),
                 schedule: Sequence[ScheduleEntry] = (), windows: Sequence[Window] = (),
                 speed: float = 1.0, clock: Clock | None = None,
                 settings: ProxySettings = ProxySettings()) -> None:
        check_local(upstream[0], "転送先")
        check_local(listen[0], "待受")
        if schedule and clock is None:
            raise LinkConfigInvalid("予定を使うには時計が必要です", code="schedule_needs_clock")
        self.upstream = upstream
        self.listen = listen
        self.settings = settings
        self._profile = profile_named(profile) if isinstance(profile, str) else profile
        self._rng = rng
        self._schedule = list(schedule)
        self._extra_windows = list(windows)
        self._speed = speed
        self._clock = clock
        self._stats = LinkStats()
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._manual_down = False
        self._manual_reset = True
        self._up_event: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self.started_at: datetime | None = None
        self.model: LinkModel = LinkModel(self._profile, random.Random(0), speed=speed)  # replaced

    # -- lifecycle --

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        windows = list(self._extra_windows)
        if self._schedule:
            assert self._clock is not None
            self.started_at = to_jst(self._clock.now())
            windows += schedule_windows(self._schedule, self.started_at)
        self.model = LinkModel(self._profile, self._rng, schedule=windows, speed=self._speed)
        self._up_event = asyncio.Event()
        self._up_event.set()
        self._wake = asyncio.Event()
        self._t0 = loop.time()
        self._server = await asyncio.start_server(self._on_client, self.listen[0], self.listen[1])
        self._supervisor = asyncio.create_task(self._supervise(), name="link-proxy-supervisor")

    @property
    def address(self) -> tuple[str, int]:
        """The address clients connect to (the real port when ``listen`` asked for port 0)."""
        assert self._server is not None, "start() first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return (str(host), int(port))

    async def close(self) -> None:
        """Stop listening, reset every connection, and wait for every task to end."""
        if self._server is not None:
            self._server.close()
        if self._supervisor is not None:
            self._supervisor.cancel()
        tasks = [c.task for c in self._conns if c.task is not None]
        for c in list(self._conns):
            c.reset()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._supervisor is not None:
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- runtime control --

    def now(self) -> float:
        """Real seconds since ``start()``: the model's time axis."""
        return asyncio.get_running_loop().time() - self._t0

    def set_profile(self, profile: LinkProfile | str) -> None:
        """Change link quality for chunks sent from now on (order is still preserved)."""
        self._profile = profile_named(profile) if isinstance(profile, str) else profile
        self.model.set_profile(self._profile)
        if self._wake is not None:
            self._wake.set()

    def down(self, reset: bool = True) -> None:
        """Take the link down until ``up()``.

        ``reset=True``: existing connections are reset and new ones are reset on arrival.
        ``reset=False``: black hole: connections stay open, nothing is delivered, new ones wait.
        """
        self._manual_down = True
        self._manual_reset = reset
        assert self._up_event is not None, "start() first"
        self._up_event.clear()
        if reset:
            self._cut_all()

    def up(self) -> None:
        """End a manual ``down()``. Scheduled windows still apply."""
        self._manual_down = False
        if self._up_event is not None:
            self._up_event.set()

    def stats(self) -> LinkStats:
        s = self._stats
        return LinkStats(up=DirectionStats(**vars(s.up)), down=DirectionStats(**vars(s.down)),
                         connections_total=s.connections_total,
                         connections_active=len(self._conns),
                         connections_refused=s.connections_refused,
                         connections_cut=s.connections_cut,
                         upstream_failures=s.upstream_failures)

    def state(self) -> LinkState:
        if self._manual_down:
            return LinkState.DOWN
        return self.model.state_at(self.now())

    # -- internals --

    def _refusing(self) -> bool:
        if self._manual_down:
            return self._manual_reset
        return self.model.state_at(self.now()) is LinkState.DOWN

    def _cut_all(self) -> None:
        for c in list(self._conns):
            if not c.cut:
                self._stats.connections_cut += 1
                c.reset()

    async def _supervise(self) -> None:
        """Cut connections when a scheduled DOWN window begins."""
        assert self._wake is not None
        while True:
            nxt = self.model.down_changes_after(self.now())
            self._wake.clear()
            timeout = None if nxt is None else max(0.0, nxt - self.now())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            # a hair past the edge so state_at sees the new window
            await asyncio.sleep(0.001)
            if self.model.state_at(self.now()) is LinkState.DOWN:
                self._cut_all()

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer)
        if self._refusing():
            self._stats.connections_refused += 1
            _rst(writer)
            return
        self._conns.add(conn)
        conn.task = asyncio.create_task(self._serve(conn, reader), name="link-proxy-conn")
        conn.task.add_done_callback(lambda t: self._finished(conn, t))

    def _finished(self, conn: _Conn, task: asyncio.Task[None]) -> None:
        self._conns.discard(conn)
        if not task.cancelled():
            task.exception()  # retrieved: a broken connection is the link's business, not an error

    async def _serve(self, conn: _Conn, creader: asyncio.StreamReader) -> None:
        assert self._up_event is not None
        try:
            await self._up_event.wait()  # black-holed while manually down without reset
            if self.settings.handshake_delay:
                syn = OrderedPipe(self.model, Direction.UP).schedule(self.now(), 0)
                synack = OrderedPipe(self.model, Direction.DOWN).schedule(syn, 0)
                await asyncio.sleep(max(0.0, synack - self.now()))
            try:
                ureader, uwriter = await asyncio.wait_for(
                    asyncio.open_connection(self.upstream[0], self.upstream[1]),
                    self.settings.connect_timeout_s)
            except (OSError, asyncio.TimeoutError):
                self._stats.upstream_failures += 1
                _rst(conn.client)
                return
            conn.upstream = uwriter
            if conn.cut:
                _rst(uwriter)
                return
            self._stats.connections_total += 1
            tasks = [
                asyncio.create_task(self._pump(creader, conn.client, uwriter, Direction.UP)),
                asyncio.create_task(self._pump(ureader, uwriter, conn.client, Direction.DOWN)),
            ]
            try:
                done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                if any(t.exception() is not None for t in done):
                    for t in pending:
                        t.cancel()
                    _rst(conn.client)
                    _rst(uwriter)
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for w in (conn.client, conn.upstream):
                if w is not None and not w.transport.is_closing():
                    w.close()

    async def _pump(self, src: asyncio.StreamReader, src_w: asyncio.StreamWriter,
                    dst: asyncio.StreamWriter, d: Direction) -> None:
        """Read from ``src``, schedule each segment on the link, write it to ``dst`` in order."""
        pipe = OrderedPipe(self.model, d)
        stats = self._stats.up if d is Direction.UP else self._stats.down
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue(self.settings.queue_segments)
        seg = self.settings.segment_bytes

        async def read() -> None:
            while True:
                data = await src.read(self.settings.read_size)
                if not data:
                    await queue.put((pipe.schedule(self.now(), 0), None))
                    return
                stats.bytes_in += len(data)
                for i in range(0, len(data), seg):
                    piece = data[i:i + seg]
                    await queue.put((pipe.schedule(self.now(), len(piece)), piece))

        async def write() -> None:
            assert self._up_event is not None
            while True:
                at, piece = await queue.get()
                delay = at - self.now()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._up_event.wait()
                if piece is None:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                dst.write(piece)
                stats.bytes_out += len(piece)
                stats.chunks_out += 1
                await dst.drain()

        tasks = {asyncio.create_task(read()), asyncio.create_task(write())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                exc = t.exception()
                if exc is not None:
                    raise exc
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
