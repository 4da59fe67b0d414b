"""Drive the real kiosk widgets from a script, offscreen: for rendered tests and rehearsals.

``run_rendered(flow, script)`` opens the Kivy window (``SDL_VIDEODRIVER=offscreen`` in tests),
runs ``script(root)`` on the same asyncio loop as the app, then stops the app; an exception in
the script is re-raised after the window closed. ``offscreen_env(home)`` sets Kivy's
environment; it must run before Kivy is first imported in the process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ui_kivy.app import make_app, make_unlock_app, prepare_kivy


def offscreen_env(home: Path) -> None:
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_HOME", str(home))


async def frame(n: int = 2) -> None:
    """Let Kivy lay out and draw ``n`` frames."""
    for _ in range(n):
        await asyncio.sleep(1 / 30)


async def until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)
    await frame()


async def run_rendered(flow: Any, script: Callable[[Any], Awaitable[None]], size: tuple[int, int] = (1280, 800),
                       tick_s: float = 0.2) -> None:
    font = prepare_kivy(size)
    await drive_app(make_app(flow, font, tick_s=tick_s), script, size)


async def run_rendered_unlock(unlock: Any, script: Callable[[Any], Awaitable[None]],
                              size: tuple[int, int] = (1280, 800)) -> None:
    """The station-unlock PIN pad (shown before the kiosk on a locked store), driven by ``script``."""
    font = prepare_kivy(size)
    await drive_app(make_unlock_app(unlock, font, stop_when_unlocked=False), script, size)


async def drive_app(app: Any, script: Callable[[Any], Awaitable[None]], size: tuple[int, int]) -> None:
    failure: list[BaseException] = []

    async def driver() -> None:
        from kivy.core.window import Window  # lazy: opens the window, once the app runs

        try:
            await frame(3)
            if tuple(Window.size) != size:
                Window.size = size
                await frame(2)
            await script(app.root)
        except BaseException as e:  # re-raised below, after the window is closed
            failure.append(e)
        finally:
            app.stop()

    task = asyncio.ensure_future(driver())
    await app.async_run(async_lib="asyncio")
    await task
    if failure:
        raise failure[0]
