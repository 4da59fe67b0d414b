"""HQ's listening socket: a connection is *pending* from TCP accept until its HELLO (the I/O edge).

A pending connection counts against two caps (all sources, and one source address) and has a
deadline; over a cap it is closed at once, past the deadline it is closed wherever it is: in the
TLS handshake or the HTTP upgrade (the socket is aborted) or on an open WebSocket that never said
HELLO (close 4008 ``hello_timeout``). Only a HELLO the session accepted ends the pending state.

Why not ``web.TCPSite``: its protocol factory is called without the peer's address and before
the TLS handshake, so a handshake could not be refused per source before it costs HQ a signature,
and a failed handshake is never reported to it. So the socket is accepted as plain TCP, counted,
and then TLS is layered on it with asyncio's own ``SSLProtocol`` (what ``create_server(ssl=...)``
builds internally) with aiohttp's request handler on top. The pending count is released when the
TCP socket goes (whatever the TLS or HTTP layer did) or at the HELLO.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

from aiohttp import web

PeerName = Any  # ``peername`` of the socket: (host, port) or (host, port, flow, scope)


class Pending:
    """One accepted connection that has not yet delivered its HELLO."""

    __slots__ = ("gate", "addr", "peer", "raw", "timer", "ws", "released")

    def __init__(self, gate: HelloGate, addr: str, peer: PeerName, raw: asyncio.Transport) -> None:
        self.gate = gate
        self.addr = addr
        self.peer = peer
        self.raw = raw
        self.timer: asyncio.TimerHandle | None = None
        self.ws: web.WebSocketResponse | None = None  # set once the upgrade is done
        self.released = False

    def hello(self) -> None:
        """The session accepted this connection's HELLO: no deadline, no longer counted."""
        self.gate.release(self)

    def _expire(self) -> None:
        self.timer = None
        if self.ws is not None and not self.ws.closed:
            self.gate.close_soon(self.ws, 4008, b"hello_timeout")
        else:  # TLS handshake or HTTP upgrade still under way: nothing to say, drop the socket
            self.raw.abort()


class HelloGate:
    """The pending connections of one HQ node, by peer; ``admit`` at accept, ``find`` from a request."""

    def __init__(self, deadline_s: float, max_pending: int, max_pending_per_addr: int) -> None:
        self.deadline_s = deadline_s
        self.max_pending = max_pending
        self.max_pending_per_addr = max_pending_per_addr
        self._by_peer: dict[PeerName, Pending] = {}
        self._per_addr: dict[str, int] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def pending(self, addr: str | None = None) -> int:
        return len(self._by_peer) if addr is None else self._per_addr.get(addr, 0)

    def admit(self, raw: asyncio.Transport) -> Pending | None:
        """A socket just accepted: counted, with its deadline; None (caller drops it) over a cap."""
        peer = raw.get_extra_info("peername")
        addr = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if len(self._by_peer) >= self.max_pending or self._per_addr.get(addr, 0) >= self.max_pending_per_addr:
            return None
        p = Pending(self, addr, peer, raw)
        p.timer = asyncio.get_running_loop().call_later(self.deadline_s, p._expire)
        self._by_peer[peer] = p
        self._per_addr[addr] = self._per_addr.get(addr, 0) + 1
        return p

    def find(self, request: web.Request) -> Pending | None:
        """The pending record of a request's connection (None once it said HELLO, or not ours)."""
        transport = request.transport
        return self._by_peer.get(transport.get_extra_info("peername")) if transport is not None else None

    def release(self, p: Pending) -> None:
        if p.released:
            return
        p.released = True
        if p.timer is not None:
            p.timer.cancel()
            p.timer = None
        if self._by_peer.get(p.peer) is p:
            del self._by_peer[p.peer]
        n = self._per_addr.get(p.addr, 0) - 1
        if n > 0:
            self._per_addr[p.addr] = n
        else:
            self._per_addr.pop(p.addr, None)

    def close_soon(self, ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
        """Close a WebSocket without waiting here for the peer's reply (a dead peer may never send it)."""
        task = asyncio.get_running_loop().create_task(self._close(ws, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
            await ws.close(code=code, message=reason)

    def drop_all(self) -> None:
        """HQ stops: every connection still pending goes at once."""
        for p in list(self._by_peer.values()):
            self.release(p)
            p.raw.abort()


class _TlsLayer(sslproto.SSLProtocol):
    """asyncio's TLS layer, telling the gate when the socket under it is gone (also after a
    failed handshake, which never reaches the protocol above)."""

    def __init__(self, pending: Pending, app: asyncio.BaseProtocol, ctx: ssl.SSLContext) -> None:
        # typeshed is narrower than asyncio here: the waiter may be None (create_server passes
        # one only to await it) and the timeout is any number of seconds
        super().__init__(asyncio.get_running_loop(), app, ctx, None,  # type: ignore[arg-type]
                         server_side=True, ssl_handshake_timeout=pending.gate.deadline_s)  # type: ignore[arg-type]
        self._pending = pending

    def connection_lost(self, exc: BaseException | None) -> None:
        self._pending.gate.release(self._pending)
        super().connection_lost(exc)


class _Accepted(asyncio.Protocol):
    """The first protocol of every accepted socket: admit it, then hand it to TLS and aiohttp."""

    def __init__(self, gate: HelloGate, handler: Callable[[], asyncio.BaseProtocol], ctx: ssl.SSLContext) -> None:
        self.gate = gate
        self.handler = handler
        self.ctx = ctx

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        p = self.gate.admit(transport)
        if p is None:  # over a cap: closed before a byte of TLS
            transport.abort()
            return
        # Synchronous, before the transport's first read: no byte of the ClientHello is lost.
        tls = _TlsLayer(p, self.handler(), self.ctx)
        transport.set_protocol(tls)
        tls.connection_made(transport)


class GatedSite(web.BaseSite):
    """``TCPSite`` with the gate in front: same runner, same aiohttp handler."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, ssl_ctx: ssl.SSLContext,
                 gate: HelloGate) -> None:
        super().__init__(runner, ssl_context=ssl_ctx)
        self._host = host
        self._port = port
        self._gate = gate

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None and self._ssl_context is not None
        handler: Callable[[], asyncio.BaseProtocol] = server
        ctx = self._ssl_context
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Accepted(self._gate, handler, ctx), self._host, self._port,
            backlog=self._backlog, reuse_address=True)

    async def stop(self) -> None:
        await super().stop()
        self._gate.drop_all()


def bound_port(runner: web.AppRunner) -> int:
    """The port a runner's site listens on (for port 0: the one the OS chose)."""
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    raise RuntimeError("not bound")
