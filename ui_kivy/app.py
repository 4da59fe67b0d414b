"""The kiosk app: Kivy on the SAME asyncio loop as the sync agent and the hardware drivers.

``KioskApp(flow)`` shows a ``KioskFlow`` (rendered tests, screenshots). ``run_kiosk`` /
``StationRun`` is ``meibo kiosk TDIR``: one App whose root shows, in turn, the smart-card
enrollment screen (TDIR absent or not enrolled), the station unlock (encrypted store; the
enrolled card and its PIN first when the store was sealed with ``terminal seal-card``), then the
``Terminal``, its ``SyncAgent`` (link to HQ) and ``TerminalHardware`` (scanner events go to
``flow.on_scan_event``, modem snapshots to the status bar) behind the kiosk, all on the loop of
``App.async_run(async_lib="asyncio")`` until the window closes. One App, not one per step: a
Kivy window does not reopen reliably once its App stopped. Kivy's environment
(``KIVY_NO_ARGS`` …) is set by ``prepare_kivy`` before Kivy is first imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from appliance import journal
from appliance.dirs import TerminalDir
from ground.errors import MeiboError
from hardware.rig import TerminalHardware
from hardware.cardreader.pcsc import PcscCardReader  # pyscard itself is optional there
from sync_protocol.hq_round import published_versions
from ui_kivy.fonts import find_cjk_font, find_name_font, install_default_font
from ui_kivy.presenters.app_flow import KioskFlow
from ui_kivy.presenters.enroll import CardEnrollPort, EnrollPresenter
from ui_kivy.presenters.unlock import AtRestUnlock, UnlockPresenter, needs_unlock
from ui_kivy.presenters.rehearsal import ENTER, RUN
from ui_kivy.rehearsal_service import open_kiosk_terminal, presenter_for
from ui_kivy.service import radio_from_snapshot

# Kivy itself, and the views (they import Kivy), stay inside functions: Kivy reads its environment and
# config at first import, which ``prepare_kivy`` must set first. (pyscard, optional, loads with the
# PC/SC driver and says so when it is missing.)

KV = Path(__file__).with_name("views") / "kiosk.kv"


def kivy_views() -> SimpleNamespace:
    """The kiosk's Kivy views, imported on first use: Kivy reads its environment at first import,
    which ``prepare_kivy`` sets first. The one place this module imports views."""
    from ui_kivy.views import enroll, rehearsal, root, stopped, unlock  # lazy: imports kivy, after prepare_kivy

    return SimpleNamespace(KioskRoot=root.KioskRoot, UnlockRoot=unlock.UnlockRoot, EnrollRoot=enroll.EnrollRoot,
                           StoppedRoot=stopped.StoppedRoot, ZeroProofRoot=rehearsal.ZeroProofRoot,
                           ProofPendingRoot=rehearsal.ProofPendingRoot, RunPendingRoot=rehearsal.RunPendingRoot,
                           RunResultRoot=rehearsal.RunResultRoot)


def prepare_kivy(size: tuple[int, int] = (1280, 800), fullscreen: bool = False) -> Path:
    """Environment and window config; must run before the first ``import kivy``. Returns the font."""
    font = find_cjk_font()
    find_name_font()  # names with IVS need IPAmj明朝: say so before any window opens
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

    KioskRoot = kivy_views().KioskRoot

    install_default_font(font)
    if str(KV) not in Builder.files:
        Builder.load_file(str(KV))

    class KioskApp(App):
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

    UnlockRoot = kivy_views().UnlockRoot

    install_default_font(font)
    if str(KV) not in Builder.files:
        Builder.load_file(str(KV))

    class UnlockApp(App):
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


@dataclass(frozen=True)
class StationSettings:
    """The waits of ``StationRun`` (STYLE rule 9)."""

    tick_s: float = 0.3  # reader / card poll on the enrollment screen; the kiosk's status tick
    unlocked_pause_s: float = 0.8  # "✓ 開きました" stays this long before the kiosk appears


def _enrolled(tdir_path: Path) -> bool:
    return TerminalDir(tdir_path).identity_path.exists()


class StationRun:
    """One kiosk process (``meibo kiosk TDIR``): one Kivy App, one asyncio loop, its screens in turn.

    ``run()`` opens the window and walks: enrollment by smart card when TDIR is absent or not
    enrolled → station unlock when the store is encrypted and locked → the terminal, its sync
    agent and hardware → the kiosk (the opening check first while the station is not open). The
    kiosk's supervisor menu calls ``flow.on_enroll``: the terminal, agent and hardware stop and the
    enrollment screen comes back in re-enrollment mode (やめる returns to the kiosk); after either
    the walk starts again from the top. Its 試験モード item closes the kiosk the same way: the walk
    reopens it on the test area (rehearsal_service.py; a red 試験 strip over every screen) or,
    leaving test mode, finishes the rehearsal (the test area destroyed) and shows ゼロ確認 until the
    supervisor goes on to the real kiosk. Closing the window ends it all. A terminal that refuses to
    open with an alarm (``store_rolled_back``: appliance/freshness.py) shows 受付停止 in red instead
    of the kiosk, and ``run()`` then ends with that error.

    The card reader is made by ``reader_factory`` (default ``PcscCardReader``) so tests and
    rehearsals can pass theirs; everything else is the real path.
    """

    rehearsal_hq_check_s = 10.0  # leaving 試験モード: how long to ask HQ for its roll and contests

    def __init__(self, tdir_path: Path, *, clock: Any, clerk: str, scanner: str | None = None,
                 modems: list[str] | None = None, hq: str | Sequence[str] | None = None, enroll_hq: str | None = None,
                 font: Path, reader_factory: Callable[[], Any] | None = None, enroll_settings: Any = None,
                 settings: StationSettings = StationSettings()) -> None:
        self.tdir_path = tdir_path
        self.clock = clock
        self.clerk = clerk
        self.scanner = scanner
        self.modems = list(modems or [])
        self.hq = [hq] if isinstance(hq, str) else (list(hq) if hq else None)  # HQ nodes, in order
        self.enroll_hq = enroll_hq
        self.font = font
        self.reader_factory = reader_factory
        self.enroll_settings = enroll_settings
        self.settings = settings
        self.screen = ""  # enroll | unlock | kiosk | stopped: what is shown now
        self.enroll: Any = None  # EnrollPresenter while enrolling
        self.unlock: Any = None  # UnlockPresenter while unlocking
        self.flow: Any = None  # KioskFlow while the kiosk runs
        self.root: Any = None
        self._built = asyncio.Event()
        self._reader: Any = None
        self.stopped_by: Any = None  # the alarm (a MeiboError) the 受付停止 screen shows
        self._switch: tuple[str, Any] | None = None  # (enter | leave, RehearsalPresenter) asked from the menu
        self.app = self._make_app()

    # -- the App and its one root ------------------------------------------------------------
    def _make_app(self) -> Any:
        from kivy.app import App
        from kivy.clock import Clock
        from kivy.lang import Builder
        from kivy.uix.boxlayout import BoxLayout

        install_default_font(self.font)
        if str(KV) not in Builder.files:
            Builder.load_file(str(KV))
        run = self

        class StationRoot(BoxLayout):
            """Holds the one screen shown now; ``texts`` / ``press`` / ``shown`` go to it."""

            current: Any = None

            def show(self, widget: Any) -> None:
                old = self.current
                self.clear_widgets()
                self.current = widget
                self.add_widget(widget)
                if old is not None:
                    old.close()

            def texts(self) -> list[str]:
                return list(self.current.texts()) if self.current is not None else []

            def shown(self) -> list[Any]:
                return list(self.current.shown()) if self.current is not None else []

            def press(self, text: str) -> None:
                self.current.press(text)

        class StationApp(App):
            title = "meibo 名簿対照"

            def build(self) -> Any:
                run.root = StationRoot()
                self._tick = Clock.schedule_interval(lambda _dt: run.tick(), run.settings.tick_s)
                run._built.set()
                return run.root

            def on_stop(self) -> None:
                self._tick.cancel()
                if run.root is not None and run.root.current is not None:
                    run.root.current.close()

        return StationApp()

    def tick(self) -> None:
        """About every ``tick_s``: the reader / card on the enrollment and unlock screens, the kiosk's status."""
        if self.screen == "enroll" and self.enroll is not None:
            self.enroll.poll()
        elif self.screen == "unlock" and self.unlock is not None:
            self.unlock.poll()  # nothing to watch on a PIN-only station
        elif self.screen == "kiosk" and self.flow is not None:
            self.flow.tick()

    # -- the walk ------------------------------------------------------------------------------
    async def run(self) -> None:
        app_task = asyncio.ensure_future(self.app.async_run(async_lib="asyncio"))
        built = asyncio.ensure_future(self._built.wait())
        await asyncio.wait({app_task, built}, return_when=asyncio.FIRST_COMPLETED)
        built.cancel()
        walk = asyncio.ensure_future(self._walk()) if self._built.is_set() else None
        failure: BaseException | None = None
        try:
            if walk is not None:
                done, _ = await asyncio.wait({app_task, walk}, return_when=asyncio.FIRST_COMPLETED)
                if walk in done and walk.exception() is not None:
                    failure = walk.exception()
                    self.app.stop()
            await app_task
        finally:
            if walk is not None and not walk.done():
                walk.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await walk
            if self._reader is not None and hasattr(self._reader, "close"):
                self._reader.close()
        if failure is not None:
            raise failure
        if self.stopped_by is not None:
            raise self.stopped_by  # the command exits with the alarm too (red on the console)

    async def _walk(self) -> None:
        while True:
            if not _enrolled(self.tdir_path):
                await self._enrollment(replace=False)
            if needs_unlock(self.tdir_path):
                await self._unlocking()
            try:
                live = await self._kiosk()  # returns when the supervisor asks to re-enroll
            except MeiboError as e:
                if not getattr(e, "alarm", False):
                    raise
                await self._stopped(e)  # e.g. store_rolled_back: never continues
                return
            if self._switch is not None:  # 試験モード on or off (the kiosk's terminal is closed now)
                await self._switch_mode()
                continue
            await self._enrollment(replace=True, election_id=TerminalDir(self.tdir_path).config().election_id,
                                   live_terminal=live)

    async def _enrollment(self, *, replace: bool, election_id: str | None = None,
                          live_terminal: str | None = None) -> Any:
        EnrollRoot = kivy_views().EnrollRoot

        reader = self._card_reader()
        finished: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_finished(result: Any) -> None:
            if not finished.done():
                finished.set_result(result)

        port = CardEnrollPort(self.tdir_path, reader, self.clock, hq=self.enroll_hq, election_id=election_id,
                              settings=self.enroll_settings)
        self.enroll = EnrollPresenter(port, replace=replace, election_id=election_id, live_terminal=live_terminal,
                                      on_finished=on_finished)
        self.enroll.poll()
        self.root.show(EnrollRoot(self.enroll))
        self.screen = "enroll"
        try:
            return await finished
        finally:
            self.enroll = None

    def _card_reader(self) -> Any:
        """The one card reader of this kiosk (enrollment and the card-sealed unlock), made on first use."""
        if self._reader is None:
            if self.reader_factory is not None:
                self._reader = self.reader_factory()
            else:
                self._reader = PcscCardReader()
        return self._reader

    async def _unlocking(self) -> None:
        UnlockRoot = kivy_views().UnlockRoot

        tdir = TerminalDir(self.tdir_path)
        station_name = tdir.config().station(tdir.identity().station_id).name
        unlocked = asyncio.Event()
        port = AtRestUnlock(self.tdir_path)
        try:
            card = port.needs_card()  # sealed with meibo terminal seal-card: the enrolled card first
        except MeiboError:  # a corrupt sealed file: the PIN pad says so at the first try, as before
            card = False
        if card:
            port.reader = self._card_reader()
        self.unlock = UnlockPresenter(port, station_name, on_unlocked=unlocked.set,
                                      card_port=port if port.reader is not None else None)
        self.unlock.poll()
        self.root.show(UnlockRoot(self.unlock))
        self.screen = "unlock"
        await unlocked.wait()
        await asyncio.sleep(self.settings.unlocked_pause_s)  # let "✓ 開きました" be read
        self.unlock = None

    async def _switch_mode(self) -> None:
        """試験モード: start it (the kiosk comes back on the test area, bannered), or end it: finish
        (destroy the test area, the zero proof) and show ゼロ確認 until the supervisor goes on."""
        what, presenter = self._switch or ("", None)
        self._switch = None
        if what == ENTER:
            presenter.enter()
            return
        if what == RUN:  # 試験手順を実行: slow (the sync step waits for HQ), so in a worker thread
            self.root.show(kivy_views().RunPendingRoot())
            self.screen = "rehearsal_run_pending"
            await asyncio.to_thread(presenter.run_steps)
            done = asyncio.Event()
            self.root.show(kivy_views().RunResultRoot(presenter, on_done=done.set))
            self.screen = "rehearsal_run"
            await done.wait()
            self.screen = ""
            return
        self.root.show(kivy_views().ProofPendingRoot())  # asking HQ for its versions takes a moment
        self.screen = "zero_proof_pending"
        versions = await published_versions(TerminalDir(self.tdir_path), self.clock, self.rehearsal_hq_check_s,
                                            hq_addresses=self.hq)
        presenter.port.hq_versions = lambda: versions  # the zero proof's 名簿・選挙の版 against HQ's
        presenter.leave()
        done = asyncio.Event()
        self.root.show(kivy_views().ZeroProofRoot(presenter, on_done=done.set))
        self.screen = "zero_proof"
        await done.wait()
        self.screen = ""

    async def _stopped(self, e: Any) -> None:
        """受付停止 in red until the window is closed (appliance/freshness.py alarms)."""
        StoppedRoot = kivy_views().StoppedRoot

        self.stopped_by = e
        self.root.show(StoppedRoot(e.message, e.code))
        self.screen = "stopped"
        await asyncio.Event().wait()

    async def _kiosk(self) -> str | None:
        """Run the kiosk until the supervisor asks to re-enroll; returns this terminal's id when its
        journal already holds events (a card for the same id is then refused), else None."""
        KioskRoot = kivy_views().KioskRoot

        tdir = TerminalDir(self.tdir_path)
        term, agent, service = open_kiosk_terminal(tdir, self.clock, self.hq)  # the test area in 試験モード
        agent_task: asyncio.Task[Any] | None = None
        try:
            hw = TerminalHardware.from_paths(self.modems, self.scanner, config=term.config, clock=self.clock)
            flow = KioskFlow(service, self.clerk)
            reenroll = asyncio.Event()
            # The supervisor menu shows 端末の登録（スマートカード） when this is set (app_flow.py).
            setattr(flow, "on_enroll", reenroll.set)
            self._switch = None
            rehearsal = presenter_for(tdir, self.clock, lambda what: (setattr(self, "_switch", (what, rehearsal)),
                                                                       reenroll.set()), hq=self.hq)
            setattr(flow, "rehearsal", rehearsal)  # the menu's 試験モード item, the banner (views/rehearsal.py)
            if not flow.service.station_state().is_open:
                flow.show_opening()  # 開設前の確認 first (本部と再確認 once the link is up)
            hw.on_scan(flow.on_scan_event)
            hw.on_status(lambda snap: flow.set_radios(radio_from_snapshot(snap)))
            agent_task = asyncio.create_task(agent.run(), name="sync-agent")
            async with hw:
                flow.set_radios(radio_from_snapshot(hw.snapshot()) if self.modems else None)
                self.flow = flow
                self.root.show(KioskRoot(flow))
                self.screen = "kiosk"
                await reenroll.wait()
            self.screen = ""
            return term.terminal_id if journal.head(term.store).seq > 0 else None
        finally:
            self.flow = None
            agent.stop()
            if agent_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await agent_task
            term.close()


async def run_kiosk(tdir_path: Path, *, clock: Any, clerk: str, scanner: str | None, modems: list[str],
                    hq: Sequence[str] | None, size: tuple[int, int], fullscreen: bool,
                    enroll_hq: str | None = None) -> None:
    """``meibo kiosk TDIR``: enrollment (if needed) → unlock (if locked) → opening check → kiosk."""
    font = prepare_kivy(size, fullscreen)
    await StationRun(tdir_path, clock=clock, clerk=clerk, scanner=scanner, modems=modems, hq=hq,
                     enroll_hq=enroll_hq, font=font).run()
