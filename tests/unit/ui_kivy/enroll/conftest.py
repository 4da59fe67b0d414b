"""Fixtures for the enrollment presenter: a fake port with one reader and a TDIR path (absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.ui_kivy.enroll.fake_port import FakeCard, FakeEnrollPort
from ui_kivy.presenters.enroll import EnrollPresenter

PIN = "246810"
SUPERVISOR = "2468"


@pytest.fixture
def port(tmp_path: Path) -> FakeEnrollPort:
    return FakeEnrollPort(tmp_path / "T01")


@pytest.fixture
def card() -> FakeCard:
    return FakeCard(pin=PIN)


def type_pin(p: EnrollPresenter, pin: str) -> None:
    for d in pin:
        p.digit(d)


async def up_to_enroll(p: EnrollPresenter, port: FakeEnrollPort, card: FakeCard, card_pin: str = PIN) -> None:
    """Card in, card PIN, supervisor PIN twice: the enrollment runs."""
    p.poll()
    port.insert(card)
    p.poll()
    type_pin(p, card_pin)
    await p.submit()
    type_pin(p, SUPERVISOR)
    await p.submit()
    type_pin(p, SUPERVISOR)
    await p.submit()
