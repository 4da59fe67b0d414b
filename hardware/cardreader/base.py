"""The smart-card reader as the rest of meibo sees it: list readers, wait for a card, exchange APDUs.

Owns: the ``CardReader`` / ``CardChannel`` protocols, their typed errors and the settings object.
Never imports pyscard, sockets or the applet: drivers translate their own exceptions into these
at their boundary (STYLE rule 3), so callers handle exactly four errors, named for what they do
next:

- ``NoReader``: the named reader is not plugged in (or no PC/SC service): plug it in, pick another.
- ``CardAbsent``: no card in the reader: ask for the card.
- ``CardRemoved``: the card was pulled out during the exchange: the exchange did not complete;
  start over from SELECT after re-insertion. The last command may or may not have run on the card.
- ``ReaderError``: anything else the reader or service reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from ground.errors import MeiboError


class CardReaderError(MeiboError):
    """Base of the card reader's errors."""

    code = "card_reader_error"


class NoReader(CardReaderError):
    code = "no_reader"


class NoPcscService(NoReader):
    """pcscd is not running: no reader can be listed at all (the screens say to call the admin)."""

    code = "no_pcsc_service"


class CardGone(CardReaderError):
    """No card to talk to: none in the slot, or pulled during an exchange. Wait for it to come back."""


class CardAbsent(CardGone):
    code = "card_absent"


class CardRemoved(CardGone):
    code = "card_removed"


class ReaderError(CardReaderError):
    code = "reader_error"


@dataclass(frozen=True)
class CardReaderSettings:
    """Every wait of the card reader layer (STYLE rule 9)."""

    poll_interval_s: float = 0.1  # how often a wait re-checks presence (fake; PC/SC slices its waits)
    status_slice_s: float = 0.5  # one SCardGetStatusChange call while waiting for insert/removal
    connect_attempts: int = 3  # SCardConnect right after insertion may race pcscd's power-up
    connect_retry_s: float = 0.2
    removal_confirm_s: float = 1.5  # after a failed exchange, how long to look for the card leaving


class CardChannel(Protocol):
    """A connection to the card in one reader (one session: the card's PIN state lives here)."""

    @property
    def atr(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send a command APDU; return response data followed by SW1 SW2.

        Raises ``CardRemoved`` if the card left the reader before the answer arrived."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "CardChannel": ...

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class CardApplet(Protocol):
    """What a card runs, as the fake reader sees it (``provisioning.applet.Applet`` is one): its
    answer to reset, one APDU in and one response out, and a power cycle. Kept here so that the drivers stand on the
    ground alone and never import the applet."""

    @property
    def atr(self) -> bytes: ...

    def process(self, apdu: bytes) -> bytes: ...

    def reset(self) -> None:
        """Power cycle: the session (selection, PIN verified) ends, the card's memory stays."""
        ...


class CardReader(Protocol):
    def readers(self) -> list[str]:
        """Names of the readers plugged in now (empty list when none)."""
        ...

    def card_present(self, reader: str) -> bool:
        """Raises ``NoReader`` for an unknown reader."""
        ...

    def wait_for_card(self, reader: str, timeout_s: float) -> bool:
        """True as soon as a card is in ``reader``; False after ``timeout_s`` without one."""
        ...

    def wait_for_removal(self, reader: str, timeout_s: float) -> bool:
        """True as soon as ``reader`` is empty; False after ``timeout_s`` with the card still in."""
        ...

    def connect(self, reader: str) -> CardChannel:
        """Power the card and open a session. ``NoReader`` / ``CardAbsent`` / ``ReaderError``."""
        ...


def msg_no_reader(name: str, available: list[str]) -> str:
    listed = "、".join(available) if available else "なし"
    return f"カードリーダー「{name}」が見つかりません（接続中のリーダー: {listed}）"


def msg_card_absent(name: str) -> str:
    return f"カードリーダー「{name}」にカードが入っていません"


def msg_card_removed(name: str) -> str:
    return f"通信中にカードが抜かれました（{name}）。カードを差し直して、最初からやり直してください"
