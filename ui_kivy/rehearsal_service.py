"""The kiosk on the test area (試験モード): the ``KioskService`` it runs on and the port the
rehearsal presenter (presenters/rehearsal.py) switches through.

``TestAreaService`` is ``TerminalService`` over the test area's terminal (appliance/rehearsal.py:
its store, its journal for ``rehearsal_id(election)``, the rehearsal clock); only the supervisor
PIN is the real terminal's (the test area keeps no PIN of its own, and the poll worker's PIN must
not change for a rehearsal). ``open_kiosk_terminal`` gives the app the terminal, the sync agent and
the service for whichever mode TDIR is in: the agent always uses the terminal's real certificate
and key, and its HELLO names the terminal's election, so a test kiosk reaches only HQ's test ledger.
``AreaPort.run`` runs the scripted steps (appliance.rehearsal.run) for 「試験手順を実行」: the sync
step goes to the kiosk's HQ nodes (the same round as ``meibo terminal rehearsal run --hq``: that
code is in the CLI, which the UI may not import, so its dozen lines are repeated here); the two
double-vote steps need a second station's terminal directory and are SKIP at a single kiosk. The
report and the ゼロ確認書 are written as PDF to ``TDIR/reports/`` (``REPORTS``).
Never imports the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance import rehearsal
from appliance.dirs import TerminalDir
from appliance.rehearsal_pdf import render_proof, render_report
from appliance.terminal import Terminal, check_pin
from sync_protocol.client import SyncAgent
from sync_protocol.hq_round import rehearsal_sync_round
from ui_kivy.presenters.rehearsal import RehearsalPresenter
from ui_kivy.service import META_LAST_SHOWN, TerminalService


class TestAreaService(TerminalService):
    __test__ = False  # not a pytest class

    def __init__(self, real: TerminalDir, terminal: Terminal, agent: Any | None = None) -> None:
        super().__init__(terminal, agent)
        self.real = real

    def check_pin(self, pin: str) -> bool:
        return check_pin(self.real, pin)


REPORTS = "reports"
SYNC_TIMEOUT_S = 20.0


def reports_dir(tdir: TerminalDir) -> Path:
    return tdir.root / REPORTS


def sync_round(tdir: TerminalDir, hq: Sequence[str] | None, timeout_s: float) -> rehearsal.SyncRound:
    """One agent round of the test terminal against HQ's test ledger (the CLI's, in hq_round)."""
    return rehearsal_sync_round(tdir, timeout_s, hq_addresses=hq)


class AreaPort:
    """``RehearsalPort`` over a terminal directory; ``hq``: the kiosk's HQ nodes (None: the sync
    step is SKIP, as ``meibo terminal rehearsal run`` without --hq)."""

    def __init__(self, tdir: TerminalDir, clock: Any, hq_versions: Any = None,
                 hq: Sequence[str] | None = None, sync_timeout_s: float = SYNC_TIMEOUT_S) -> None:
        self.tdir = tdir
        self.clock = clock
        self.hq_versions = hq_versions
        self.hq = list(hq) if hq else None
        self.sync_timeout_s = sync_timeout_s
        self.last_run: dict[str, Any] | None = None

    def _pdf_path(self, kind: str) -> Path:
        stamp = self.clock.now().strftime("%Y%m%d-%H%M%S")
        d = reports_dir(self.tdir)
        d.mkdir(exist_ok=True)
        return d / f"{kind}-{self.tdir.identity().terminal_id}-{stamp}.pdf"

    def run(self) -> dict[str, Any]:
        sync = sync_round(self.tdir, self.hq, self.sync_timeout_s) if self.hq else None
        rep = rehearsal.run(self.tdir, self.clock, sync=sync).as_dict()
        # the steps' check-ins were answered on the results screen: the kiosk, back on the test
        # area, must not take them for check-ins interrupted before their answer was seen
        with rehearsal.open_test_terminal(self.tdir, self.clock) as term:
            with term.store.atomic() as c:
                term.store.set_meta(c, META_LAST_SHOWN, str(term.head().seq))
        out = self._pdf_path("rehearsal-report")
        rep["pages"] = render_report(rep, out)
        rep["pdf"] = str(out)
        self.last_run = rep
        return rep

    def active(self) -> bool:
        return rehearsal.active(self.tdir)

    def start(self) -> dict[str, Any]:
        return rehearsal.start(self.tdir, self.clock)

    def finish(self) -> dict[str, Any]:
        proof = rehearsal.finish(self.tdir, self.clock, hq_versions=self.hq_versions, run_report=self.last_run)
        out = self._pdf_path("zero-proof")
        proof["pages"] = render_proof(proof, out)
        proof["pdf"] = str(out)
        return proof


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


def presenter_for(tdir: TerminalDir, clock: Any, on_switch: Any,
                  hq: Sequence[str] | None = None) -> RehearsalPresenter:
    return RehearsalPresenter(AreaPort(tdir, clock, hq=hq), on_switch)


__all__ = ["REPORTS", "reports_dir", "sync_round", "TestAreaService", "AreaPort", "open_kiosk_terminal", "presenter_for"]
