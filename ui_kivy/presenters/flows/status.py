"""The status flow: the status bar (link, radios, scanner), its refresh once a second, late alerts.

A late ALREADY_VOTED verdict (HQ learnt after the answer that the ballot had been handed
elsewhere) interrupts whatever screen is up with an alert that must be acknowledged; several wait
in a queue, oldest first. Never imports Kivy; time comes from the service's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from ui_kivy.presenters.flows.router import Router
from ui_kivy.presenters.format import mdhm
from ui_kivy.presenters.status import StatusState, status_state
from ui_kivy.service import RadioInfo


@dataclass(frozen=True)
class AlertState:
    title: str
    body: str
    seq: int


class StatusPresenter:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.alerts: list[AlertState] = []
        self.radios: list[RadioInfo] | None = None
        self.scanner_connected: bool | None = None
        self.status: StatusState = status_state(router.service.link_status(), None, router.service.now())

    @property
    def alert(self) -> AlertState | None:
        return self.alerts[0] if self.alerts else None

    def set_radios(self, radios: list[RadioInfo] | None) -> None:
        self.radios = radios
        self.refresh_status()

    def set_scanner(self, connected: bool) -> None:
        self.scanner_connected = connected
        self.refresh_status()

    def refresh_status(self) -> None:
        svc = self.router.service
        self.status = status_state(svc.link_status(), self.radios, svc.now(), self.scanner_connected)
        self.router.notify()

    def tick(self) -> None:
        """Called about once a second by the app: status bar and late verdicts."""
        for a in self.router.service.take_late_alerts():
            self.alerts.append(AlertState(
                "！ 二重交付の疑い（本部から後で判明）",
                f"受付 {a.seq}（{a.voter_name}）の {a.contest_name} は、{a.where} {mdhm(a.at)} に"
                "すでに交付されていました。オフライン受付の手順に従い、ただちに管理者に連絡してください",
                a.seq))
        self.refresh_status()

    def acknowledge_alert(self) -> None:
        if self.alerts:
            self.alerts.pop(0)
        self.router.notify()
