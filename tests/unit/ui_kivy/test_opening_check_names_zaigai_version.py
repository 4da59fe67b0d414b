"""The kiosk's opening check compares the 在外選挙人名簿 version with HQ's, like the main roll: an early
station without HQ's current 在外 package is red and cannot open; after installing it, green.
The fake and the real TerminalService (with an agent that heard HQ's WELCOME) answer alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ground.clock import FixedClock
from appliance.store import Store
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir
from tests.unit.ui_kivy.conftest import CONFIG, VOTERS
from tests.unit.ui_kivy.zaigai_data import install_zaigai, zaigai_voters
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.service import KioskService, TerminalService


class Setup:
    def __init__(self, svc: KioskService, hq: SimpleNamespace | None, install: object) -> None:
        self.svc, self.hq, self.install = svc, hq, install

    def hq_publishes_zaigai(self, version: int) -> None:
        if isinstance(self.svc, FakeKioskService):
            self.svc.hq_zaigai_version = version
        else:
            assert self.hq is not None
            self.hq.hq_zaigai_version = version


@pytest.fixture(params=["fake", "real"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    clock = FixedClock(EARLY_NOON)
    if request.param == "fake":
        svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), clock, hq_roll_version=1)

        def fake_install() -> None:
            svc.zaigai, svc.zaigai_version = zaigai_voters(), 1
        yield Setup(svc, None, fake_install)
        return
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    store = Store(tdir.store_path)
    with store.atomic() as c:
        store.set_meta(c, "roll_version", "1")
    store.close()
    term = Terminal.open(tdir, clock)
    agent = SimpleNamespace(hq_roll_version=1, hq_contests=None, refused=None, hq_zaigai_version=None,
                            late_alerts=[],
                            status=lambda: {"online": True, "pending": 0, "last_contact": None, "hq": "hq"})
    real = TerminalService(term, agent)  # type: ignore[arg-type]
    yield Setup(real, agent, lambda: install_zaigai(term.store))
    term.close()


def test_early_station_without_hqs_zaigai_package_is_red_until_installed(setup: Setup) -> None:
    flow = KioskFlow(setup.svc, "管理者")
    flow.show_opening()
    assert flow.opening is not None and flow.opening.colour == "green"  # HQ published no 在外 roll

    setup.hq_publishes_zaigai(1)
    flow.show_opening()
    assert flow.screen is Screen.OPENING and flow.opening.colour == "red" and not flow.opening_ok
    assert any("在外" in line for line in flow.opening.lines), flow.opening.lines
    flow.open_station()
    assert not setup.svc.station_state().is_open  # refused: the notice says why
    assert flow.notice is not None and flow.notice.level == "error"

    setup.install()
    flow.show_opening()
    assert flow.opening.colour == "green" and flow.opening_ok
    flow.open_station()
    assert setup.svc.station_state().is_open
