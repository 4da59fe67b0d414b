"""The HQ console app: Kivy on the same asyncio loop as the HQ node (``App.async_run``).

``run_console`` decides how to reach HQ: when no HQ answers on HQDIR's admin socket, the console
starts the ``HqNode`` itself (TLS listener + admin socket, so ``meibo hq report`` and terminals
work as with ``meibo hq serve``); otherwise it follows the serving HQ (``RemoteHq``).

Live without blocking ingest: the refresher builds one snapshot a second (never two at once);
each takes in only the events committed since the last one (``backend``, ``live``), and the
ledger is only read on the loop between awaits, exactly like the node's own handlers.
Kivy must be configured by the environment before this module is imported (see ``kivy_env``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from appliance.dirs import HqDir
from ground.clock import clock_from_arg
from hq.admin_client import ask_admin
from hq.records import RecordsLedger
from hq.server import ADMIN_SOCKET, HqNode, check_bind_address, serve
from ui_kivy.console.backend import LocalHq, RemoteHq
from ui_kivy.console.presenter import ConsolePresenter

log = logging.getLogger("meibo.console")


def kivy_env(headless: bool = False) -> None:
    """Environment Kivy reads at import: no argv parsing, no console log, a private KIVY_HOME."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="meibo-kivy-"))
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"


@dataclass(frozen=True)
class ConsoleSettings:
    refresh_s: float = 1.0
    window_size: tuple[int, int] = (1280, 800)


def make_app(presenter: Any, source: Any, settings: ConsoleSettings = ConsoleSettings()) -> Any:
    from kivy.config import Config

    Config.set("graphics", "width", str(settings.window_size[0]))
    Config.set("graphics", "height", str(settings.window_size[1]))
    from kivy.app import App
    from kivy.core.window import Window

    from ui_kivy.console.views import ConsoleRoot  # lazy: imports kivy, after kivy_env and the Config above

    class ConsoleApp(App):  # type: ignore[misc]
        title = "meibo 本部 名簿対照監視"

        def build(self) -> Any:
            Window.size = settings.window_size
            return ConsoleRoot(presenter)

    app = ConsoleApp()
    app.presenter = presenter
    app.source = source
    return app


async def refresher(presenter: Any, source: Any, settings: ConsoleSettings, stop: asyncio.Event) -> None:
    """Pull a snapshot once a second and hand it to the presenter."""
    while not stop.is_set():
        try:
            data = await source.snapshot()
            presenter.link = source.link
            presenter.rehearsal = getattr(source, "rehearsal", None)  # 【試験】 on every page while on
            presenter.age_checks = getattr(source, "age_checks", [])  # 年齢確認 (issue 19)
            presenter.on_data(data)
        except Exception as e:  # a failed refresh must not stop the console; show it
            log.exception("refresh failed")
            presenter.error = f"表示を更新できません: {e}"
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.refresh_s)


async def run_app(presenter: Any, source: Any, settings: ConsoleSettings = ConsoleSettings(),
                  driver: Callable[[Any], Awaitable[None]] | None = None) -> None:
    """Run the window until it is closed (or ``driver(app)`` returns, for tests and screenshots)."""
    app = make_app(presenter, source, settings)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(refresher(presenter, source, settings, stop))]
    if driver is not None:
        async def drive() -> None:
            try:
                await driver(app)
            finally:
                app.stop()
        tasks.append(asyncio.create_task(drive()))
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        stop.set()
        for t in tasks:
            if t.done():
                continue
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                raise r


async def run_console(hqdir: str, listen: str | None, dev_loopback: bool, now: str | None,
                      driver: Callable[[Any], Awaitable[None]] | None = None, store_url: str | None = None) -> str:
    """``meibo console HQDIR``: returns how HQ was reached ("local" / "remote")."""
    hq = HqDir(Path(hqdir)).require()
    clock = clock_from_arg(now)
    serving = await ask_admin(hq.root / ADMIN_SOCKET, {"op": "report"}, 5.0) is not None
    if serving:
        source: Any = RemoteHq(hq, clock, store_url=store_url)
        try:
            await run_app(ConsolePresenter(source), source, driver=driver)
        finally:
            await source.close()
        return "remote"
    addr = listen or hq.config().hq_address
    host, port_s = addr.rsplit(":", 1)
    host = host.strip("[]")
    check_bind_address(host, dev_loopback)
    node = HqNode(hq, ledger_cls=RecordsLedger, store_url=store_url)
    runner = await serve(node, host, int(port_s))
    admin = await node.serve_admin()
    local = LocalHq(node, clock)
    try:
        await run_app(ConsolePresenter(local), local, driver=driver)
    finally:
        await local.close()
        admin.close()
        await node.stop()
        await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            (hq.root / ADMIN_SOCKET).unlink()
    return "local"
