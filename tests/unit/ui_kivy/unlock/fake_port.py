"""``FakeUnlockPort``: a card-sealed station's unlock port without a reader, a card or a sealed
file, for the unlock presenter's unit tests.

Cards go in and out with domain actions (``insert``, ``remove``); ``pull_during_unlock()`` makes
the next unlock lose the card mid-exchange. The card counts wrong PINs (3, then locked) and the
sealed key counts wrong supervisor PINs (``max_tries``) exactly as the real port does
(tests/unit/ui_kivy/unlock/test_unlock_port_contract.py holds both to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.atrest import CardRequired, PinLocked, PinWrong
from ground.errors import UsageError
from hardware.cardreader.base import CardAbsent, CardRemoved, NoPcscService, NoReader
from provisioning.card_client import CardLocked, NotOurCard, WrongPin
from ui_kivy.presenters.unlock import CardSeen, CardUnlockPort

READER = "Virtual PCD 00 00"
OTHER_READER = "Virtual PCD 00 01"
SERIAL = "00000000000000A1"


@dataclass
class FakeCard:
    pin: str = "246810"
    terminal: str = "T01"
    election_id: str = "yokohama-2027"
    serial: str = SERIAL
    tries_left: int = 3
    meibo: bool = True


def other_terminal_card() -> FakeCard:
    return FakeCard(terminal="T02", serial="00000000000000B2")


class FakeUnlockPort:
    def __init__(self, supervisor_pin: str = "2468", *, terminal: str = "T01", election_id: str = "yokohama-2027",
                 sealing_serial: str = SERIAL, max_tries: int = 10,
                 readers: tuple[str, ...] = (READER, OTHER_READER)) -> None:
        self.supervisor_pin = supervisor_pin
        self.terminal, self.election_id = terminal, election_id
        self.sealing_serial = sealing_serial
        self.max_tries = max_tries
        self.failures = 0  # wrong supervisor PINs, as the sealed file counts them
        self.opened = False
        self.slots: dict[str, FakeCard | None] = {r: None for r in readers}
        self.service_down = False
        self._pull_next_unlock = False
        self.calls: list[str] = []

    # domain actions
    def insert(self, card: FakeCard, reader: str = READER) -> FakeCard:
        self.slots[reader] = card
        return card

    def remove(self, reader: str = READER) -> None:
        self.slots[reader] = None

    def pull_during_unlock(self) -> None:
        self._pull_next_unlock = True

    # ReaderPort
    def readers(self) -> list[str]:
        if self.service_down:
            raise NoPcscService("PC/SC サービス（pcscd）が動いていません")
        return sorted(self.slots)

    def card_present(self, reader: str) -> bool:
        if reader not in self.slots:
            raise NoReader(f"カードリーダー「{reader}」が見つかりません")
        return self.slots[reader] is not None

    # the card
    def _card(self, reader: str) -> FakeCard:
        card = self.slots.get(reader)
        if card is None:
            raise CardAbsent(f"カードリーダー「{reader}」にカードが入っていません")
        if not card.meibo:
            raise NotOurCard("meibo の登録カードではありません")
        if card.terminal != self.terminal or card.election_id != self.election_id:
            raise UsageError("この端末の登録カードではありません（別の端末・選挙のカードです）", code="card_other_terminal")
        if card.serial != self.sealing_serial:
            raise UsageError("封印に使ったカードではありません", code="card_mismatch")
        return card

    def check_card(self, reader: str) -> CardSeen:
        self.calls.append("check_card")
        card = self._card(reader)
        return CardSeen(card.serial, card.tries_left)

    def verify_card_pin(self, reader: str, card_pin: str) -> None:
        self.calls.append("verify_card_pin")
        card = self._card(reader)
        if card.tries_left == 0:
            raise CardLocked()
        if card_pin != card.pin:
            card.tries_left -= 1
            if card.tries_left == 0:
                raise CardLocked()
            raise WrongPin(card.tries_left)
        card.tries_left = 3

    # the store
    def unlock(self, pin: str) -> None:
        self.calls.append("unlock")
        raise CardRequired("この端末は登録カードと PIN の両方で開設します。カードを差し込んでください")

    def unlock_with_card(self, pin: str, reader: str, card_pin: str) -> None:
        self.calls.append("unlock_with_card")
        self.verify_card_pin(reader, card_pin)
        if self._pull_next_unlock:  # the card leaves while it derives: nothing counted, nothing opened
            self._pull_next_unlock = False
            self.slots[reader] = None
            raise CardRemoved("通信中にカードが抜かれました")
        if self.failures >= self.max_tries:
            raise PinLocked("PIN での開設は停止されています", tries_left=0)
        if pin != self.supervisor_pin:
            self.failures += 1
            left = self.max_tries - self.failures
            if left <= 0:
                raise PinLocked("PIN またはカードが違います。PIN での開設は停止されました", tries_left=0)
            raise PinWrong(f"PIN またはカードが違います（あと {left} 回まで）", tries_left=left)
        self.failures = 0
        self.opened = True


def as_port(fake: FakeUnlockPort) -> CardUnlockPort:
    """mypy checks here that the fake has the port's shape."""
    return fake
