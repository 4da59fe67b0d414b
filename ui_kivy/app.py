"""The kiosk app: Kivy on the SAME asyncio loop as the sync agent and the hardware drivers.

``KioskApp(flow)`` shows a ``KioskFlow``; ``run_kiosk`` wires a terminal directory: the
``Terminal``, its ``SyncAgent`` (link to HQ), ``TerminalHardware`` (scanner events go to
``flow.on_scan_event``, modem snapshots to the status bar) and runs them all with
``App.async_run(async_lib="asyncio")`` until the window closes. Kivy's environment
(``KIVY_NO_ARGS`` …) is set by ``prepare_kivy`` before Kivy is first imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from ui_kivy.fonts import find_cjk_font

KV = Path(__file__).with_name("views") / "kiosk.kv"


def prepare_kivy(size: tuple[int, int] = (1280, 800), fullscreen: bool = False) -> Path:
    """Environment and window config; must run before the first ``import kivy``. Returns the font."""
    font = find_cjk_font()
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "1")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")
    return font


def make_app(flow: Any, font: Path, tick_s: float = 1.0) -> Any:
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.lang import Builder

    from ui_kivy.fonts import install_default_font

    install_default_font(font)
    if str(KV) not in Builder.files:
        Builder.load_file(str(KV))

    from ui_kivy.views.root import KioskRoot

    class KioskApp(App):  # type: ignore[misc]
        title = "meibo 名簿対照"

        def build(self) -> Any:
            self.kiosk = KioskRoot(flow)
            self._tick = Clock.schedule_interval(lambda _dt: flow.tick(), tick_s)
            return self.kiosk

        def on_stop(self) -> None:
            self._tick.cancel()
            self.kiosk.close()

    return KioskApp()


async def run_kiosk(tdir_path: Path, *, clock: Any, clerk: str, scanner: str | None, modems: list[str],
                    hq: str | None, size: tuple[int, int], fullscreen: bool) -> None:
    font = prepare_kivy(size, fullscreen)
    from appliance.dirs import TerminalDir
    from appliance.terminal import Terminal
    from hardware.commands import TerminalHardware
    from sync_protocol.client import SyncAgent
    from ui_kivy.presenters.app_flow import KioskFlow
    from ui_kivy.service import TerminalService, radio_from_snapshot

    tdir = TerminalDir(tdir_path)
    term = Terminal.open(tdir, clock)
    agent = SyncAgent(tdir, term, hq_address=hq)
    hw = TerminalHardware.from_paths(modems, scanner, config=term.config, clock=clock)
    flow = KioskFlow(TerminalService(term, agent), clerk)
    hw.on_scan(flow.on_scan_event)
    hw.on_status(lambda snap: flow.set_radios(radio_from_snapshot(snap)))
    app = make_app(flow, font)
    agent_task = asyncio.create_task(agent.run(), name="sync-agent")
    try:
        async with hw:
            flow.set_radios(radio_from_snapshot(hw.snapshot()) if modems else None)
            await app.async_run(async_lib="asyncio")
    finally:
        agent.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await agent_task
        term.close()
