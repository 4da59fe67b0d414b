"""The kiosk on the test area (試験モード): the ``KioskService`` it runs on and the port the
rehearsal presenter (presenters/rehearsal.py) switches through.

``TestAreaService`` is ``TerminalService`` over the test area's terminal (appliance/rehearsal.py:
its store, its journal for ``rehearsal_id(election)``, the rehearsal clock); only the supervisor
PIN is the real terminal's (the test area keeps no PIN of its own, and the poll worker's PIN must
not change for a rehearsal). ``open_kiosk_terminal`` gives the app the terminal, the sync agent and
the service for whichever mode TDIR is in: the agent always uses the terminal's real certificate
and key, and its HELLO names the terminal's election, so a test kiosk reaches only HQ's test ledger.
Never imports the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance import rehearsal
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal, check_pin
from sync_protocol.client import SyncAgent
from ui_kivy.presenters.rehearsal import RehearsalPresenter
from ui_kivy.service import TerminalService


class TestAreaService(TerminalService):
    __test__ = False  # not a pytest class

    def __init__(self, real: TerminalDir, terminal: Terminal, agent: Any | None = None) -> None:
        super().__init__(terminal, agent)
        self.real = real

    def check_pin(self, pin: str) -> bool:
        return check_pin(self.real, pin)


class AreaPort:
    """``RehearsalPort`` over a terminal directory."""

    def __init__(self, tdir: TerminalDir, clock: Any, hq_versions: Any = None) -> None:
        self.tdir = tdir
        self.clock = clock
        self.hq_versions = hq_versions

    def active(self) -> bool:
        return rehearsal.active(self.tdir)

    def start(self) -> dict[str, Any]:
        return rehearsal.start(self.tdir, self.clock)

    def finish(self) -> dict[str, Any]:
        return rehearsal.finish(self.tdir, self.clock, hq_versions=self.hq_versions)


def open_kiosk_terminal(tdir: TerminalDir, clock: Any, hq: Sequence[str] | None = None
                        ) -> tuple[Terminal, SyncAgent, TerminalService]:
    """(terminal, agent, service) for the kiosk: the test area's while TDIR is in test mode;
    ``hq``: the HQ nodes to try in order (``meibo kiosk --hq A --hq B``), else the configured ones."""
    if rehearsal.active(tdir):
        term = rehearsal.open_test_terminal(tdir, clock)
        agent = SyncAgent(tdir, term, hq_addresses=hq)
        return term, agent, TestAreaService(tdir, term, agent)
    term = Terminal.open(tdir, clock)
    agent = SyncAgent(tdir, term, hq_addresses=hq)
    return term, agent, TerminalService(term, agent)


def presenter_for(tdir: TerminalDir, clock: Any, on_switch: Any) -> RehearsalPresenter:
    return RehearsalPresenter(AreaPort(tdir, clock), on_switch)


__all__ = ["TestAreaService", "AreaPort", "open_kiosk_terminal", "presenter_for"]
