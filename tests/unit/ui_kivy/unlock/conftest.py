"""Fixtures for the station unlock's card step: a fake card-sealed station and its presenter."""

from __future__ import annotations

import pytest

from tests.unit.ui_kivy.unlock.fake_port import FakeCard, FakeUnlockPort
from ui_kivy.presenters.unlock import UnlockPresenter

CARD_PIN = "246810"
SUPERVISOR = "2468"
STATION = "中区役所 期日前投票所"


@pytest.fixture
def port() -> FakeUnlockPort:
    return FakeUnlockPort(SUPERVISOR)


@pytest.fixture
def card() -> FakeCard:
    return FakeCard(pin=CARD_PIN)


class Opened:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def opened() -> Opened:
    return Opened()


@pytest.fixture
def presenter(port: FakeUnlockPort, opened: Opened) -> UnlockPresenter:
    return UnlockPresenter(port, STATION, opened, card_port=port)


def type_pin(p: UnlockPresenter, pin: str) -> bool:
    for d in pin:
        p.digit(d)
    return p.submit()


def card_in(p: UnlockPresenter, port: FakeUnlockPort, card: FakeCard) -> None:
    p.poll()
    port.insert(card)
    p.poll()
