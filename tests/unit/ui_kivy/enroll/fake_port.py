"""``FakeEnrollPort``: the enroll port without a reader or HQ, for the presenter's unit tests.

Cards are inserted and pulled with domain actions (``insert``, ``remove``); ``hq_down()`` makes the
next enrollment fail as an unreachable HQ would; ``pull_at(state)`` pulls the card when the
enrollment reaches that state. Success writes ``terminal.toml`` into TDIR, failure leaves TDIR as it
was, like the real port (tests/unit/ui_kivy/enroll/test_enroll_port_contract.py holds both to it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from ground.errors import HqUnreachable, MeiboError
from hardware.cardreader.base import CardAbsent, CardRemoved, NoPcscService, NoReader
from provisioning.card_client import CardAlreadyUsed, CardLocked, CardNotIssued, CardOfOtherElection, WrongPin
from provisioning.enroll import AlreadyEnrolled, HqNotTrusted, TState
from ui_kivy.presenters.enroll import STEPS, CardSummary, Enrolled, EnrollPort, StepCallback


@dataclass
class FakeCard:
    pin: str = "246810"
    election_id: str = "yokohama-2027"
    terminal: str = "T01"
    station: str = "E01"
    serial: str = "00000000000000A1"
    hq_address: str = "127.0.0.1:8444"
    used: bool = False
    tries_left: int = 3
    issued: bool = True


class FakeEnrollPort:
    def __init__(self, tdir: Path, readers: tuple[str, ...] = ("Virtual PCD 00 00",), *,
                 election_id: str | None = None) -> None:
        self.tdir = tdir
        self.election_id = election_id
        self.slots: dict[str, FakeCard | None] = {r: None for r in readers}
        self.service_down = False
        self.hq_reachable = True
        self.hq_trusted = True
        self.pull_state: TState | None = None
        self.hq_enrolled: set[str] = set()
        self.calls: list[str] = []

    # domain actions
    def insert(self, card: FakeCard, reader: str | None = None) -> FakeCard:
        self.slots[reader or next(iter(self.slots))] = card
        return card

    def remove(self, reader: str | None = None) -> None:
        self.slots[reader or next(iter(self.slots))] = None

    def hq_down(self) -> None:
        self.hq_reachable = False

    def pull_at(self, state: TState) -> None:
        self.pull_state = state

    # EnrollPort
    def readers(self) -> list[str]:
        if self.service_down:
            raise NoPcscService("PC/SC サービス（pcscd）が動いていません")
        return sorted(self.slots)

    def card_present(self, reader: str) -> bool:
        if reader not in self.slots:
            raise NoReader(f"カードリーダー「{reader}」が見つかりません")
        return self.slots[reader] is not None

    def _card(self, reader: str) -> FakeCard:
        card = self.slots.get(reader)
        if card is None:
            raise CardAbsent(f"カードリーダー「{reader}」にカードが入っていません")
        return card

    def read_card(self, reader: str) -> CardSummary:
        self.calls.append("read_card")
        c = self._card(reader)
        if not c.issued:
            raise CardNotIssued("このカードは選挙管理委員会での発行が済んでいません（未発行のカード）")
        return CardSummary(c.serial, c.election_id, c.terminal, c.station, c.hq_address, c.used, c.tries_left)

    async def enroll(self, reader: str, card_pin: str, supervisor_pin: str, *, replace: bool,
                     on_step: StepCallback) -> Enrolled:
        self.calls.append("enroll")
        if (self.tdir / "terminal.toml").exists() and not replace:
            raise AlreadyEnrolled("この端末ディレクトリはすでに登録済みです")
        c = self._card(reader)
        if self.election_id is not None and c.election_id != self.election_id:
            raise CardOfOtherElection("別の選挙のカードです")
        if c.used:
            raise CardAlreadyUsed("このカードは使用済みです")
        for state, _label in STEPS[:-1]:
            await asyncio.sleep(0)
            if self.pull_state is state:
                self.slots[reader] = None
                raise CardRemoved("通信中にカードが抜かれました")
            if state is TState.PIN_VERIFIED:
                if c.tries_left == 0:
                    raise CardLocked()
                if card_pin != c.pin:
                    c.tries_left -= 1
                    if c.tries_left == 0:
                        raise CardLocked()
                    raise WrongPin(c.tries_left)
                c.tries_left = 3
            if state is TState.HQ_TRUSTED:
                if not self.hq_reachable:
                    raise HqUnreachable("本部の登録窓口に接続できません")
                if not self.hq_trusted:
                    raise HqNotTrusted("本部の証明書がカードの選挙 CA と一致しません")
                if c.terminal in self.hq_enrolled and not replace:
                    raise MeiboError("この端末 ID はすでに登録されています", code="terminal_already_enrolled")
            if state is TState.CARD_MARKED:
                c.used = True
            on_step(state, "名簿 第 1 版（0.1 MB）を受信しています" if state is TState.PROVEN else "")
        replaced = None
        if (self.tdir / "terminal.toml").exists():
            moved = self.tdir.with_name(self.tdir.name + ".replaced-fake")
            self.tdir.rename(moved)
            replaced = str(moved)
        self.tdir.mkdir(parents=True)
        (self.tdir / "terminal.toml").write_text(f"terminal = {c.terminal!r}\n", "utf-8")
        self.hq_enrolled.add(c.terminal)
        return Enrolled(c.terminal, c.station, "中区役所 期日前投票所", c.election_id, 1, replaced)


def used(card: FakeCard) -> FakeCard:
    return replace(card, used=True)


def as_port(fake: FakeEnrollPort) -> EnrollPort:
    """mypy checks here that the fake has the port's shape."""
    return fake
