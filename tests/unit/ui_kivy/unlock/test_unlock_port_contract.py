"""One contract for the card-sealed station's unlock port, run against the fake (unit tests) and
the real one (``AtRestUnlock``: pyscard → a private pcscd → vpcd → the project's virtual card,
issued for T01; a real terminal directory whose store key ``with_enrolled_card`` +
``atrest.add_card_wrapping`` sealed under the PIN and that card, as ``meibo terminal seal-card``
does). What the presenter relies on: readers and card presence; the card checked before any PIN
(another terminal's card is ``card_other_terminal``, another card of this terminal that did not
seal the store ``card_mismatch``); ``wrong_pin`` with the tries left, counted on
the card and reset by the right PIN; the PIN alone is ``card_required``; a wrong supervisor PIN is
``pin_wrong`` with the tries left and opens nothing; PIN + card opens the store; a pulled card is
``card_absent``; the third wrong card PIN is ``card_locked`` and the card then says 0 tries. The
presenter catches the classes (``CardGone``, ``WrongPin``, ``PinWrong``, ``CardLocked``), so both
ports raise those, not only their codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from appliance.atrest import PinWrong
from ground.errors import MeiboError
from hardware.cardreader.base import CardGone
from provisioning.card_client import CardLocked, WrongPin
from tests.pcsc_fixtures import pcscd_service  # noqa: F401  (the real PC/SC stack, session-wide)
from tests.unit.ui_kivy.unlock.fake_port import FakeCard, FakeUnlockPort, other_terminal_card
from tests.unit.ui_kivy.unlock.fake_port import OTHER_READER as FAKE_OTHER
from tests.unit.ui_kivy.unlock.fake_port import READER as FAKE_READER
from ui_kivy.presenters.unlock import CardUnlockPort

CARD_PIN = "246810"
SUPERVISOR = "2468"  # tests.builders.TEST_PIN


class Harness(Protocol):
    reader: str
    other_reader: str
    port: CardUnlockPort

    def insert(self) -> None: ...

    def remove(self) -> None: ...

    def insert_other_terminal_card(self) -> None: ...

    def insert_reissued_card(self) -> None:
        """Another card for this same terminal (issued after the store was sealed), in ``other_reader``."""
        ...

    def is_open(self) -> bool: ...


class FakeHarness:
    reader, other_reader = FAKE_READER, FAKE_OTHER

    def __init__(self) -> None:
        self.fake = FakeUnlockPort(SUPERVISOR)
        self.port: CardUnlockPort = self.fake
        self.card = FakeCard(pin=CARD_PIN)

    def insert(self) -> None:
        self.fake.insert(self.card)

    def remove(self) -> None:
        self.fake.remove()

    def insert_other_terminal_card(self) -> None:
        self.fake.insert(other_terminal_card(), self.other_reader)

    def insert_reissued_card(self) -> None:
        self.fake.insert(FakeCard(pin=CARD_PIN, serial="00000000000000C3"), self.other_reader)

    def is_open(self) -> bool:
        return self.fake.opened


def card_ready(pcsc: Any, reader_name: str, timeout_s: float = 5.0) -> None:
    """Wait until the card just inserted answers SELECT: right after insertion pcscd sometimes
    fails the first exchange ("Transaction failed", seen on the base commit's enrollment tests
    too); a test's own setup should not trip on that (the kiosk's poll reads again, unlock.py)."""
    import time

    from hardware.cardreader.base import ReaderError
    from provisioning.card_client import CardClient

    assert pcsc.wait_for_card(reader_name, timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with pcsc.connect(reader_name) as ch:
                CardClient(ch).select()
            return
        except ReaderError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def seal_with_card(tdir: Any, reader: Any, reader_name: str, pin: str, card_pin: str) -> list[str]:
    """What ``meibo terminal seal-card`` does, with the test's cheap Argon2id settings."""
    from appliance import atrest
    from provisioning.card_session import with_enrolled_card
    from tests.builders import TEST_ATREST

    kinds: list[str] = with_enrolled_card(
        tdir, reader_name, card_pin,
        lambda serial, responder: atrest.add_card_wrapping(tdir, pin, serial, responder, settings=TEST_ATREST),
        reader=reader)
    return kinds


def issued_card(svc: Any, tmp: Path, name: str, slot: int, seed: int, *, terminal_id: str | None = None) -> Any:
    """A virtual card issued for terminal ``terminal_id`` (default ``name``) at E01, not inserted."""
    from provisioning.card_client import Personalisation
    from tests.pcsc_fixtures import issued_state

    perso = Personalisation("yokohama-2027", "127.0.0.1:8443", bytes(32), terminal_id or name, "E01")
    state, _pub = issued_state(perso, CARD_PIN, seed=seed)
    return svc.card(state, slot=slot, state_path=tmp / f"card-{name}.json")


class RealHarness:
    def __init__(self, tmp: Path, svc: Any) -> None:
        from hardware.cardreader.pcsc import PcscCardReader
        from tests.builders import TEST_PIN, terminal_dir
        from provisioning.pcsc_service import READER_SLOT0, READER_SLOT1
        from ui_kivy.presenters.unlock import AtRestUnlock

        assert TEST_PIN == SUPERVISOR
        self.reader, self.other_reader = READER_SLOT0, READER_SLOT1
        self.tdir = terminal_dir(tmp / "T01", opened=False)
        self.pcsc = PcscCardReader()
        self.card = issued_card(svc, tmp, "T01", 0, 7)
        self.other = issued_card(svc, tmp, "T02", 1, 8)
        self.reissued = issued_card(svc, tmp, "T01-again", 1, 9, terminal_id="T01")
        self.insert()
        assert seal_with_card(self.tdir, self.pcsc, self.reader, SUPERVISOR, CARD_PIN) == ["pin+card"]
        self.remove()
        real = AtRestUnlock(self.tdir.root, self.pcsc)
        assert real.needs_card()
        self.port: CardUnlockPort = real

    def insert(self) -> None:
        self.card.insert()
        card_ready(self.pcsc, self.reader)

    def remove(self) -> None:
        if self.card.inserted:
            self.card.remove()
            assert self.pcsc.wait_for_removal(self.reader, 5.0)

    def insert_other_terminal_card(self) -> None:
        self.other.insert()
        card_ready(self.pcsc, self.other_reader)

    def insert_reissued_card(self) -> None:
        if self.other.inserted:
            self.other.remove()
            assert self.pcsc.wait_for_removal(self.other_reader, 5.0)
        self.reissued.insert()
        card_ready(self.pcsc, self.other_reader)

    def is_open(self) -> bool:
        from appliance import atrest

        return atrest.unlocked_key(self.tdir) is not None

    def close(self) -> None:
        from appliance import atrest

        atrest.close_station(self.tdir)  # the cards: pulled by the pcscd_service fixture
        self.pcsc.close()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.pcsc)])
def harness(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    if request.param == "fake":
        yield FakeHarness()
        return
    from appliance import atrest

    monkeypatch.setenv(atrest.RUNTIME_ENV, str(tmp_path / "runtime"))
    h = RealHarness(tmp_path, request.getfixturevalue("pcscd_service"))
    try:
        yield h
    finally:
        h.close()


def raised(call: Any) -> MeiboError:
    with pytest.raises(MeiboError) as ei:
        call()
    return ei.value


def code_of(call: Any) -> tuple[str, dict[str, Any]]:
    e = raised(call)
    return e.code, dict(e.details)


def test_unlock_port_contract(harness: Harness) -> None:
    h, port = harness, harness.port
    assert h.reader in port.readers() and h.other_reader in port.readers()
    assert not port.card_present(h.reader)
    absent = raised(lambda: port.check_card(h.reader))
    assert absent.code == "card_absent" and isinstance(absent, CardGone)
    assert code_of(lambda: port.unlock(SUPERVISOR))[0] == "card_required"  # the PIN alone opens nothing

    h.insert_other_terminal_card()
    assert port.card_present(h.other_reader)
    assert code_of(lambda: port.check_card(h.other_reader))[0] == "card_other_terminal"
    assert code_of(lambda: port.verify_card_pin(h.other_reader, CARD_PIN))[0] == "card_other_terminal"
    h.insert_reissued_card()  # this terminal's, but not the card that sealed the store
    assert code_of(lambda: port.check_card(h.other_reader))[0] == "card_mismatch"
    assert code_of(lambda: port.unlock_with_card(SUPERVISOR, h.other_reader, CARD_PIN))[0] == "card_mismatch"
    assert not h.is_open()

    h.insert()
    assert port.card_present(h.reader)
    seen = port.check_card(h.reader)
    assert len(seen.serial) == 16 and seen.tries_left == 3

    wrong = raised(lambda: port.verify_card_pin(h.reader, "999999"))
    assert isinstance(wrong, WrongPin) and wrong.code == "wrong_pin" and wrong.details["tries_left"] == 2
    assert port.check_card(h.reader).tries_left == 2
    port.verify_card_pin(h.reader, CARD_PIN)
    assert port.check_card(h.reader).tries_left == 3  # the right PIN resets the card's count

    pin_wrong = raised(lambda: port.unlock_with_card("9999", h.reader, CARD_PIN))
    assert isinstance(pin_wrong, PinWrong) and pin_wrong.code == "pin_wrong"
    assert pin_wrong.details["tries_left"] == 9 and not h.is_open()
    port.unlock_with_card(SUPERVISOR, h.reader, CARD_PIN)
    assert h.is_open()

    h.remove()
    assert not port.card_present(h.reader)
    assert isinstance(raised(lambda: port.check_card(h.reader)), CardGone)


def test_third_wrong_card_pin_locks_the_card(harness: Harness) -> None:
    h, port = harness, harness.port
    h.insert()
    errors = [raised(lambda: port.verify_card_pin(h.reader, "999999")) for _ in range(3)]
    assert [e.code for e in errors] == ["wrong_pin", "wrong_pin", "card_locked"]
    assert [type(e) for e in errors] == [WrongPin, WrongPin, CardLocked]
    assert port.check_card(h.reader).tries_left == 0
    assert code_of(lambda: port.verify_card_pin(h.reader, CARD_PIN))[0] == "card_locked"
    assert code_of(lambda: port.unlock_with_card(SUPERVISOR, h.reader, CARD_PIN))[0] == "card_locked"
    assert not h.is_open()
