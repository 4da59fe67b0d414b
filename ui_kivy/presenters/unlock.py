"""Station unlock (保存データの鍵の解除) before the kiosk starts: the supervisor PIN pad shown when
the terminal's store is encrypted at rest and its key is not unlocked (appliance/atrest.py), and,
on a terminal sealed with ``meibo terminal seal-card`` (only the ``pin+card`` wrapping left), the
enrolled card (登録カード) and its PIN first.

``UnlockPresenter`` holds the screen's state and its intents; the real port is ``AtRestUnlock``
(``atrest.open_station``; the card through ``provisioning.card_session.with_enrolled_card`` over
the kiosk's PC/SC reader). The fake is tests/unit/ui_kivy/unlock/fake_port.py; a contract test holds
both to one behaviour.

Rules kept here:
- The phases are one table (``TABLE``); an event not in it raises ``IllegalTransition`` and changes
  nothing. A PIN-only directory starts at ``SUPERVISOR_PIN`` and never sees a card phase: it
  behaves exactly as before the card existed.
- Card step: the card is read before any PIN. Another terminal's card (``card_other_terminal``),
  a card that did not seal this store (``card_mismatch``), a foreign or blank card are refused
  plainly until it is pulled. The card PIN is verified on the card as soon as it is typed, so a
  wrong one shows the card's tries left before the supervisor PIN is asked; a locked card says so.
- A card pulled at any point before the store is open returns to the card step with a message;
  nothing was unsealed and no supervisor-PIN try was counted (atrest counts only a failed unwrap).
- A wrong supervisor PIN says how many tries are left; a locked PIN wrapping says so plainly and
  disables the pad (the 選管 must come). When unlocked, ``on_unlocked`` is called once.
- Both PINs live in memory only until the attempt ends (the card PIN is forgotten when the card
  leaves). The try counters live on the card and in the sealed key file, never here.

Plain Python: no kivy import. The reader-watching and pad pieces are the enrollment screen's
(presenters/enroll.py ``scan_readers``, ``PinBuffer``): one way of watching a reader on this kiosk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from appliance import atrest
from appliance.atrest import PinLocked, PinWrong
from appliance.dirs import TerminalDir
from ground.errors import IllegalTransition, MeiboError, UsageError
from hardware.cardreader.base import CardGone, NoReader
from provisioning.applet import PIN_MAX, PIN_MIN, PIN_TRIES
from provisioning.card_client import CardClient, CardLocked, WrongPin
from provisioning.card_session import check_enrolled_card, with_enrolled_card
from ui_kivy.presenters.enroll import PinBuffer, ReaderPort, masked, message_for, readers_text, scan_readers


# --- the ports ------------------------------------------------------------------------------------

class UnlockPort(Protocol):
    def unlock(self, pin: str) -> None:
        """Raises ``PinWrong`` (details ``tries_left``) or ``PinLocked``; ``CardRequired`` when
        only the card wrapping is left."""
        ...


@dataclass(frozen=True)
class CardSeen:
    """What the card says before any PIN: its serial and the PIN tries it has left (0 = locked)."""

    serial: str
    tries_left: int


class CardUnlockPort(UnlockPort, ReaderPort, Protocol):
    """The port of a card-sealed station: readers, the card, and the unlock with PIN + card."""

    def check_card(self, reader: str) -> CardSeen:
        """This terminal's sealing card? Raises ``card_other_terminal``, ``card_mismatch``,
        ``not_meibo_card``, ``card_not_issued``, reader errors (``card_absent``, ``card_removed`` …)."""
        ...

    def verify_card_pin(self, reader: str, card_pin: str) -> None:
        """Raises ``WrongPin`` (``wrong_pin``, details ``tries_left``) or ``CardLocked``."""
        ...

    def unlock_with_card(self, pin: str, reader: str, card_pin: str) -> None:
        """Open the store with the supervisor PIN and the card. ``PinWrong`` / ``PinLocked`` as
        ``unlock``; card and reader errors as above, and then nothing was counted or opened."""
        ...


class AtRestUnlock:
    """The real port: unseal the data key into the runtime (tmpfs) directory.

    ``reader``: the kiosk's ``CardReader`` (``PcscCardReader``), only needed for a card-sealed
    station; the same one the enrollment screen uses."""

    def __init__(self, tdir_path: Path, reader: Any = None) -> None:
        self.tdir_path = tdir_path
        self.reader = reader

    def _tdir(self) -> TerminalDir:
        return TerminalDir(self.tdir_path)

    def needs_card(self) -> bool:
        return atrest.needs_card(self._tdir())

    def unlock(self, pin: str) -> None:
        atrest.open_station(self._tdir(), pin)

    # -- the card --------------------------------------------------------------------------------
    def readers(self) -> list[str]:
        return list(self.reader.readers())

    def card_present(self, reader: str) -> bool:
        return bool(self.reader.card_present(reader))

    def _sealing_serial(self) -> str:
        sealed = atrest.card_challenge(self._tdir())
        if sealed is None:
            raise UsageError("この端末は登録カードで封印されていません", code="no_card_wrapping")
        return sealed[0]

    def _is_sealing_card(self, serial: str) -> None:
        expected = self._sealing_serial()
        if serial != expected:  # said before any try is counted (as meibo terminal open does)
            raise UsageError(f"封印に使ったカードではありません（カード {serial}、封印 {expected}）",
                             code="card_mismatch")

    def check_card(self, reader: str) -> CardSeen:
        with self.reader.connect(reader) as ch:
            client = CardClient(ch)
            serial = check_enrolled_card(self._tdir(), client)
            self._is_sealing_card(serial)
            return CardSeen(serial, client.pin_tries_left())

    def _with_card(self, reader: str, card_pin: str, use: Callable[[Any], object]) -> None:
        def checked(serial: str, responder: Any) -> None:
            self._is_sealing_card(serial)
            use(responder)

        with_enrolled_card(self._tdir(), reader, card_pin, checked, reader=self.reader)

    def verify_card_pin(self, reader: str, card_pin: str) -> None:
        self._with_card(reader, card_pin, lambda _responder: None)

    def unlock_with_card(self, pin: str, reader: str, card_pin: str) -> None:
        self._with_card(reader, card_pin, lambda responder: atrest.open_station(self._tdir(), pin, card=responder))


def needs_unlock(tdir_path: Path) -> bool:
    """True when the store is encrypted and its key is not unlocked (the kiosk shows the PIN pad)."""
    tdir = TerminalDir(tdir_path)
    return atrest.is_protected(tdir) and atrest.unlocked_key(tdir) is None


# --- the phases -----------------------------------------------------------------------------------

class Phase(str, Enum):
    NO_READER = "no_reader"
    WAIT_CARD = "wait_card"
    CARD_PIN = "card_pin"
    CARD_REFUSED = "card_refused"  # this card cannot open the station: pull it
    SUPERVISOR_PIN = "supervisor_pin"  # the only phase of a PIN-only directory until it opens
    LOCKED = "locked"  # the PIN wrapping is locked: nothing more to try here
    UNLOCKED = "unlocked"


TABLE: dict[tuple[Phase, str], Phase] = {
    (Phase.NO_READER, "reader"): Phase.WAIT_CARD,
    (Phase.WAIT_CARD, "no_reader"): Phase.NO_READER,
    (Phase.WAIT_CARD, "card_in"): Phase.CARD_PIN,
    (Phase.WAIT_CARD, "card_bad"): Phase.CARD_REFUSED,
    (Phase.CARD_PIN, "card_ok"): Phase.SUPERVISOR_PIN,  # the card accepted its PIN
    (Phase.CARD_PIN, "card_bad"): Phase.CARD_REFUSED,  # locked by the third wrong PIN, or another refusal
    (Phase.CARD_PIN, "card_out"): Phase.WAIT_CARD,
    (Phase.CARD_PIN, "no_reader"): Phase.NO_READER,
    (Phase.CARD_REFUSED, "card_out"): Phase.WAIT_CARD,
    (Phase.CARD_REFUSED, "no_reader"): Phase.NO_READER,
    (Phase.SUPERVISOR_PIN, "card_out"): Phase.WAIT_CARD,
    (Phase.SUPERVISOR_PIN, "no_reader"): Phase.NO_READER,
    (Phase.SUPERVISOR_PIN, "card_pin_again"): Phase.CARD_PIN,  # the card refused its PIN at unlock time
    (Phase.SUPERVISOR_PIN, "card_bad"): Phase.CARD_REFUSED,
    (Phase.SUPERVISOR_PIN, "locked"): Phase.LOCKED,
    (Phase.SUPERVISOR_PIN, "unlocked"): Phase.UNLOCKED,
}

CARD_PHASES = {Phase.NO_READER, Phase.WAIT_CARD, Phase.CARD_PIN, Phase.CARD_REFUSED}
PAD_PHASES = {Phase.CARD_PIN, Phase.SUPERVISOR_PIN}


def step(phase: Phase, event: str) -> Phase:
    nxt = TABLE.get((phase, event))
    if nxt is None:
        raise IllegalTransition(f"開設画面の操作が正しくありません（{phase.value} で {event}）",
                                phase=phase.value, event=event)
    return nxt


SUPERVISOR_MAX = 12  # appliance.atrest: 4〜12 digits
# ReaderError codes worth a retry (hardware/cardreader/pcsc.py); ReaderError's others (pyscard_missing,
# pcsc_context) are not. A closed channel is a CardRemoved (after a pull), so a CardGone below.
TRANSIENT = {"transmit_failed", "card_busy", "reader_error"}
PULLED = "カードが抜かれました。端末の記録は開いていません。登録カードを差し込み直してください"

# Card refusals as the unlock screen words them (the enrollment screen's words for the rest).
MESSAGES: dict[str, str] = {
    "card_other_terminal": "× この端末の登録カードではありません（別の端末・選挙のカードです）。"
                           "この端末の登録カードを差し込んでください",
    "card_mismatch": "× この端末を封印した登録カードではありません。封印に使ったカードを差し込んでください",
    "card_locked": "× 登録カードはロックされています（暗証番号を 3 回間違えました）。このカードでは開設できません。"
                   "予備の端末か紙の名簿抄本で続け、選挙管理委員会に連絡してください",
    "no_card_wrapping": "× この端末は登録カードで封印されていません。管理者に連絡してください",
}


def card_message(e: MeiboError) -> str:
    return MESSAGES.get(e.code) or message_for(e)


# --- the screen's state ---------------------------------------------------------------------------

@dataclass(frozen=True)
class UnlockState:
    station_name: str
    digits: int = 0
    message: str = ""
    phase: Phase = Phase.SUPERVISOR_PIN
    card_mode: bool = False  # the station is sealed with the card: the card step comes first
    readers: tuple[tuple[str, bool], ...] = ()
    reader: str | None = None  # the reader whose card is being used
    card: CardSeen | None = None
    error_code: str = ""  # the stable code of the last refusal ("" when none)

    @property
    def locked(self) -> bool:  # PIN wrapping locked: nothing more to try here
        return self.phase is Phase.LOCKED

    @property
    def unlocked(self) -> bool:
        return self.phase is Phase.UNLOCKED

    @property
    def masked(self) -> str:
        if self.card_mode:  # the prompt above says which PIN: no second copy of it here
            return masked(self.digits, "（未入力）") if self.phase in PAD_PHASES else ""
        return masked(self.digits, "PIN を入力してください")

    @property
    def title(self) -> str:
        how = "登録カードと管理者 PIN" if self.card_mode else "管理者 PIN"
        return f"{self.station_name}: 投票所の開設（{how} で端末の記録を開きます）"

    @property
    def prompt(self) -> str:
        """What to do now (card-sealed stations; a PIN-only screen has its title and pad only)."""
        if not self.card_mode:
            return ""
        return {
            Phase.NO_READER: "カードリーダーをつないでください",
            Phase.WAIT_CARD: "登録カードを差し込んでください",
            Phase.CARD_PIN: "カードの暗証番号を入力してください",
            Phase.CARD_REFUSED: "このカードでは開設できません。カードを抜いてください",
            Phase.SUPERVISOR_PIN: "投票管理者の PIN を入力してください（カードは差したまま）",
            Phase.LOCKED: "開設できません",
            Phase.UNLOCKED: "開設の確認に進みます",
        }[self.phase]

    @property
    def readers_text(self) -> str:
        return readers_text(self.readers) if self.card_mode else ""

    @property
    def card_text(self) -> str:
        c = self.card
        if c is None or not self.card_mode:
            return ""
        return f"登録カード {c.serial}"

    @property
    def pad_enabled(self) -> bool:
        return self.phase in PAD_PHASES

    @property
    def submit_label(self) -> str:
        return "次へ" if self.phase is Phase.CARD_PIN else "開く"

    @property
    def level(self) -> str:
        return "ok" if self.unlocked else "error" if self.message.startswith("×") else "info"


class UnlockPresenter:
    def __init__(self, port: UnlockPort, station_name: str, on_unlocked: Callable[[], None] | None = None,
                 max_len: int = SUPERVISOR_MAX, *, card_port: CardUnlockPort | None = None,
                 read_retries: int = 3) -> None:
        """``card_port``: given for a card-sealed station (``atrest.needs_card``): the card step
        comes first and ``poll()`` watches the readers. Without it, the PIN pad as before.
        ``read_retries``: polls that may fail to read a card just inserted (a reader error, not a
        refusal) before the screen says so."""
        self.read_retries = read_retries
        self._read_failures = 0
        self.port = port
        self.card_port = card_port
        self.on_unlocked = on_unlocked
        self.max_len = max_len
        self._buf = PinBuffer()
        self._card_pin = ""
        card_mode = card_port is not None
        self.state = UnlockState(station_name, card_mode=card_mode,
                                 phase=Phase.NO_READER if card_mode else Phase.SUPERVISOR_PIN)
        self._listeners: list[Callable[[], None]] = []

    # -- plumbing --------------------------------------------------------------------------------
    def subscribe(self, cb: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def _set(self, **kw: object) -> None:
        self.state = replace(self.state, **kw)  # type: ignore[arg-type]
        for cb in list(self._listeners):
            cb()

    def _go(self, event: str, **kw: object) -> None:
        nxt = step(self.state.phase, event)  # raises before anything changes
        if nxt in (Phase.NO_READER, Phase.WAIT_CARD):
            self._card_pin = ""
            kw = {"reader": None, "card": None, **kw}
        if nxt in (Phase.LOCKED, Phase.UNLOCKED, Phase.CARD_REFUSED):
            self._card_pin = ""
        self._buf.clear()
        self._set(phase=nxt, digits=0, **kw)

    @property
    def phase(self) -> Phase:
        return self.state.phase

    # -- readers and the card (called about every 0.3 s by the app) -----------------------------
    def poll(self) -> None:
        if self.card_port is None or self.phase in (Phase.LOCKED, Phase.UNLOCKED):
            return
        scan = scan_readers(self.card_port)
        if scan.error:
            if (self.phase, "no_reader") in TABLE:
                self._go("no_reader", readers=(), message=scan.error)
            elif self.state.message != scan.error:
                self._set(readers=(), message=scan.error)
            return
        if scan.readers != self.state.readers:
            self._set(readers=scan.readers)
        if not scan.names:
            if (self.phase, "no_reader") in TABLE:
                self._go("no_reader", message="")
            return
        if self.phase is Phase.NO_READER:
            self._go("reader", message="")
        reader = self.state.reader
        if reader is not None and reader not in scan.with_card:
            if self.phase is Phase.CARD_REFUSED:
                self._go("card_out", message="")
            else:
                self._go("card_out", message=PULLED, error_code="card_removed")
            return
        if self.phase is Phase.WAIT_CARD and scan.with_card:
            self._check(scan.with_card[0])

    def _check(self, reader: str) -> None:
        assert self.card_port is not None
        try:
            seen = self.card_port.check_card(reader)
            if seen.tries_left == 0:
                raise CardLocked()
        except CardGone:
            return  # pulled while being read: the next poll sees it gone or back
        except MeiboError as e:
            if e.code in TRANSIENT and self._read_failures < self.read_retries:
                self._read_failures += 1  # pcscd may still be powering a card just inserted
                return
            self._read_failures = 0
            self._go("card_bad", reader=reader, message=card_message(e), error_code=e.code)
            return
        self._read_failures = 0
        self._go("card_in", reader=reader, card=seen, message="", error_code="")

    # -- the pad ---------------------------------------------------------------------------------
    def digit(self, d: str) -> None:
        limit = PIN_MAX if self.phase is Phase.CARD_PIN else self.max_len
        if self.phase in PAD_PHASES and self._buf.add(d, limit):
            self._set(digits=len(self._buf), message="")

    def backspace(self) -> None:
        self._buf.backspace()
        self._set(digits=len(self._buf))

    def _card_lost(self, e: MeiboError) -> bool:
        """A card or reader that went away during an exchange: back to the card step."""
        if isinstance(e, CardGone):
            self._go("card_out", message=PULLED, error_code=e.code)
        elif isinstance(e, NoReader):  # the reader unplugged, or pcscd gone (NoPcscService)
            self._go("no_reader", message=card_message(e), error_code=e.code)
        else:
            return False
        return True

    def submit(self) -> bool:
        """次へ (card PIN) / 開く (supervisor PIN). True once the store is open."""
        if self.phase is Phase.CARD_PIN:
            self._submit_card_pin(self._buf.take())
            return False
        if self.phase is not Phase.SUPERVISOR_PIN:
            return self.state.unlocked
        pin = self._buf.take()
        if not pin:
            self._set(digits=0, message="PIN を入力してください")
            return False
        try:
            if self.card_port is None:
                self.port.unlock(pin)
            else:
                assert self.state.reader is not None
                self.card_port.unlock_with_card(pin, self.state.reader, self._card_pin)
        except MeiboError as e:
            if isinstance(e, PinLocked):
                self._go("locked", message=f"× {e.message}。この端末では開設できません。予備の端末か紙の名簿抄本で続けてください",
                         error_code=e.code)
            elif isinstance(e, PinWrong):
                left = e.details.get("tries_left")
                self._set(digits=0, error_code=e.code,
                          message=f"× PIN が違います（あと {left} 回まで）" if left is not None else f"× {e.message}")
            elif self.card_port is not None and self._card_lost(e):
                pass
            elif self.card_port is not None and isinstance(e, WrongPin) and e.tries_left > 0:
                self._wrong_card_pin(e, "card_pin_again")
            elif self.card_port is not None and isinstance(e, WrongPin):
                self._go("card_bad", message=MESSAGES["card_locked"], error_code="card_locked")
            elif self.card_port is not None and e.code in MESSAGES:
                self._go("card_bad", message=card_message(e), error_code=e.code)
            else:
                self._set(digits=0, message=f"× {e.message}", error_code=e.code)
            return False
        self._go("unlocked", message="✓ 開きました", error_code="")
        if self.on_unlocked is not None:
            self.on_unlocked()
        return True

    def _wrong_card_pin(self, e: WrongPin, event: str | None) -> None:
        """The card refused its PIN with tries left: say how many; ``event`` None stays on the pad."""
        left = e.tries_left
        kw: dict[str, object] = {
            "card": replace(self.state.card, tries_left=left) if self.state.card is not None else None,
            "error_code": e.code,
            "message": f"× カードの暗証番号が違います（あと {left} 回間違えるとカードがロックされます）"}
        self._go(event, **kw) if event is not None else self._set(digits=0, **kw)

    def _submit_card_pin(self, typed: str) -> None:
        assert self.card_port is not None and self.state.reader is not None
        if not PIN_MIN <= len(typed) <= PIN_MAX:
            self._set(digits=0, message=f"× カードの暗証番号は {PIN_MIN}〜{PIN_MAX} 桁です", error_code="pin_invalid")
            return
        try:
            self.card_port.verify_card_pin(self.state.reader, typed)
        except MeiboError as e:
            if self._card_lost(e):
                return
            if isinstance(e, WrongPin) and e.tries_left > 0:
                self._wrong_card_pin(e, None)
                return
            code = "card_locked" if isinstance(e, WrongPin) else e.code
            self._go("card_bad", message=card_message(MeiboError(e.message, code=code)), error_code=code)
            return
        self._card_pin = typed
        card = replace(self.state.card, tries_left=PIN_TRIES) if self.state.card is not None else None
        self._go("card_ok", card=card, message="", error_code="")

__all__ = ["AtRestUnlock", "CARD_PHASES", "CardSeen", "CardUnlockPort", "IllegalTransition", "MESSAGES",
           "PAD_PHASES", "Phase", "TABLE", "UnlockPort", "UnlockPresenter", "UnlockState", "card_message",
           "needs_unlock", "step"]
