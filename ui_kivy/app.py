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


def make_unlock_app(unlock: Any, font: Path, stop_when_unlocked: bool = True) -> Any:
    """The station-unlock app (PIN pad) shown before the kiosk when the store is locked."""
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.lang import Builder

    from ui_kivy.fonts import install_default_font

    install_default_font(font)
    if str(KV) not in Builder.files:
        Builder.load_file(str(KV))
    from ui_kivy.views.unlock import UnlockRoot

    class UnlockApp(App):  # type: ignore[misc]
        title = "meibo 投票所の開設"

        def build(self) -> Any:
            self.unlock_root = UnlockRoot(unlock)
            if stop_when_unlocked:
                unlock.subscribe(lambda: Clock.schedule_once(lambda _dt: self.stop(), 0.8)
                                 if unlock.state.unlocked else None)
            return self.unlock_root

        def on_stop(self) -> None:
            self.unlock_root.close()

    return UnlockApp()


async def run_kiosk(tdir_path: Path, *, clock: Any, clerk: str, scanner: str | None, modems: list[str],
                    hq: str | None, size: tuple[int, int], fullscreen: bool) -> None:
    font = prepare_kivy(size, fullscreen)
    from appliance.dirs import TerminalDir
    from appliance.terminal import Terminal
    from hardware.commands import TerminalHardware
    from sync_protocol.client import SyncAgent
    from ui_kivy.presenters.app_flow import KioskFlow
    from ui_kivy.service import TerminalService, radio_from_snapshot

    from ui_kivy.presenters.unlock import AtRestUnlock, UnlockPresenter, needs_unlock

    tdir = TerminalDir(tdir_path)
    if needs_unlock(tdir_path):  # encrypted store, key not unlocked: the supervisor's PIN first
        station_name = tdir.config().station(tdir.identity().station_id).name
        unlock = UnlockPresenter(AtRestUnlock(tdir_path), station_name)
        await make_unlock_app(unlock, font).async_run(async_lib="asyncio")
        if not unlock.state.unlocked:
            return  # window closed without unlocking
    term = Terminal.open(tdir, clock)
    agent = SyncAgent(tdir, term, hq_address=hq)
    hw = TerminalHardware.from_paths(modems, scanner, config=term.config, clock=clock)
    flow = KioskFlow(TerminalService(term, agent), clerk)
    if not flow.service.station_state().is_open:
        flow.show_opening()  # 開設前の確認 first (本部と再確認 once the link is up)
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
