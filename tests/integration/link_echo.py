"""A loopback TCP echo server for the link-proxy tests: counts connections, closes cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType


class EchoServer:
    """Echo every byte back; optionally answer ``reply_factor`` bytes per byte (asymmetric traffic)."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(w)
        try:
            while data := await r.read(65536):
                self.received += len(data)
                w.write(data)
                await w.drain()
            if w.can_write_eof():
                w.write_eof()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(w)
            w.close()

    def _on_client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        t = asyncio.create_task(self._handle(r, w))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return (str(host), int(port))

    async def __aenter__(self) -> EchoServer:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()


async def ping(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int = 16) -> float:
    """Round-trip time (s) of ``n`` bytes through an echo."""
    loop = asyncio.get_running_loop()
    t = loop.time()
    w.write(b"p" * n)
    await w.drain()
    await r.readexactly(n)
    return loop.time() - t


async def close(w: asyncio.StreamWriter) -> None:
    w.close()
    with contextlib.suppress(ConnectionError, OSError):
        await w.wait_closed()
