"""An in-process card reader holding applets: the fake behind unit tests (シミュレーター).

Owns: ``FakeCardReader`` (the ``CardReader`` protocol, no pcscd) and ``FakeCard``, a card with
the same domain actions as the vpcd virtual card: ``insert()``, ``remove()`` and ``pull_on(ins)``
(pulled out when a given command arrives, before or after the card ran it). Never imports
pyscard or sockets. Its behaviour is pinned by the same contract suite as the PC/SC driver.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

from hardware.cardreader.base import (CardAbsent, CardApplet, CardReaderSettings, CardRemoved, NoReader,
                                      msg_card_absent, msg_card_removed, msg_no_reader)


@dataclass
class _Pull:
    ins: int
    after_processing: bool


class _Slot:
    def __init__(self) -> None:
        self.card: FakeCard | None = None
        self.generation = 0  # bumped at every insertion and removal


class FakeCardReader:
    """Readers are plugged with ``plug(name)``; cards go in with ``FakeCard(...).insert()``."""

    def __init__(self, settings: CardReaderSettings | None = None) -> None:
        self.settings = settings or CardReaderSettings()
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    # domain actions
    def plug(self, name: str) -> None:
        with self._lock:
            self._slots.setdefault(name, _Slot())

    def unplug(self, name: str) -> None:
        with self._lock:
            slot = self._slots.pop(name, None)
            if slot is not None:
                slot.generation += 1

    # CardReader
    def readers(self) -> list[str]:
        with self._lock:
            return sorted(self._slots)

    def _slot(self, reader: str) -> _Slot:
        with self._lock:
            slot = self._slots.get(reader)
            if slot is None:
                raise NoReader(msg_no_reader(reader, sorted(self._slots)), reader=reader)
            return slot

    def card_present(self, reader: str) -> bool:
        return self._slot(reader).card is not None

    def _wait(self, reader: str, timeout_s: float, want_present: bool) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.card_present(reader) == want_present:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(self.settings.poll_interval_s, max(0.0, deadline - time.monotonic())))

    def wait_for_card(self, reader: str, timeout_s: float) -> bool:
        return self._wait(reader, timeout_s, True)

    def wait_for_removal(self, reader: str, timeout_s: float) -> bool:
        return self._wait(reader, timeout_s, False)

    def connect(self, reader: str) -> "FakeChannel":
        slot = self._slot(reader)
        card = slot.card
        if card is None:
            raise CardAbsent(msg_card_absent(reader), reader=reader)
        card.applet.reset()  # power-up: a new session
        return FakeChannel(self, reader, slot, slot.generation, card)


class FakeChannel:
    def __init__(self, reader: FakeCardReader, name: str, slot: _Slot, generation: int, card: "FakeCard") -> None:
        self._reader = reader
        self._name = name
        self._slot = slot
        self._generation = generation
        self._card = card
        self._closed = False

    @property
    def atr(self) -> bytes:
        return self._card.applet.atr

    def transmit(self, apdu: bytes) -> bytes:
        if self._closed:
            raise CardRemoved("カードとの接続は閉じられています", code="channel_closed")
        if self._slot.generation != self._generation or self._slot.card is not self._card:
            raise CardRemoved(msg_card_removed(self._name), reader=self._name)
        pull = self._card.pull
        if pull is not None and len(apdu) >= 2 and apdu[1] == pull.ins:
            self._card.pull = None
            if pull.after_processing:
                self._card.applet.process(apdu)  # the card ran it; the answer never came back
            self._card.remove()
            raise CardRemoved(msg_card_removed(self._name), reader=self._name)
        return self._card.applet.process(apdu)

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "FakeChannel":
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class FakeCard:
    """A card for the fake reader, with the same domain actions as ``VirtualCard``."""

    def __init__(self, reader: FakeCardReader, slot: str, applet: CardApplet) -> None:
        self.reader = reader
        self.slot = slot
        self.applet = applet
        self.pull: _Pull | None = None

    def insert(self) -> None:
        s = self.reader._slot(self.slot)
        with self.reader._lock:
            if s.card is not None and s.card is not self:
                raise RuntimeError(f"{self.slot}: another card is in the reader")
            s.card = self
            s.generation += 1
        self.applet.reset()

    def remove(self) -> None:
        s = self.reader._slot(self.slot)
        with self.reader._lock:
            if s.card is self:
                s.card = None
                s.generation += 1
        self.applet.reset()

    def pull_on(self, ins: int, after_processing: bool = False) -> None:
        """Pull the card out when a command with this INS arrives (once).

        ``after_processing=False``: the card never ran the command. ``True``: it ran it (and wrote
        its memory) but the answer never reached the host: the nasty case for MARK USED."""
        self.pull = _Pull(ins, after_processing)

    @property
    def present(self) -> bool:
        return self.reader._slots.get(self.slot) is not None and self.reader._slots[self.slot].card is self
