"""HQ's register of enrollment cards (登録カード台帳): HQDIR/cards.json.

Owns: one record per issued card (serial, terminal, station, the card's public key, when it was
issued, its state) and the transitions issued → used / issued → cancelled, as a table. Every
change is read-modify-write under an exclusive lock (HQDIR/cards.json.lock: the HQ server marking
a card used and an operator cancelling one may race) and written atomically (temp, fsync,
rename), so a crash or a card pulled out leaves the previous register or the new one.
Never imports readers or the applet; time comes from a ``Clock``.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from ground.clock import Clock
from appliance.dirs import write_atomic
from ground.errors import MeiboError
from ground.model import StationId, TerminalId

FORMAT = "meibo-cards/1"
_SERIAL = re.compile(r"^[0-9A-F]{16}$")


class CardRecordError(MeiboError):
    code = "card_record_error"


class CardUnknown(CardRecordError):
    code = "card_unknown"


class CardStateConflict(CardRecordError):
    """The transition is not allowed from the card's recorded state (used, cancelled, ...)."""

    code = "card_state_conflict"


class CardsFileInvalid(CardRecordError):
    code = "cards_file_invalid"


class CardRecordState(str, Enum):
    ISSUED = "issued"  # 発行済み
    USED = "used"  # 使用済み (a terminal enrolled with it)
    CANCELLED = "cancelled"  # 取消 (lost, locked, spoiled)

    @property
    def ja(self) -> str:
        return {"issued": "発行済み", "used": "使用済み", "cancelled": "取消"}[self.value]


# The transition table: (from, action) → to. Anything else raises CardStateConflict.
TRANSITIONS: dict[tuple[CardRecordState, str], CardRecordState] = {
    (CardRecordState.ISSUED, "use"): CardRecordState.USED,
    (CardRecordState.ISSUED, "cancel"): CardRecordState.CANCELLED,
    (CardRecordState.USED, "cancel"): CardRecordState.CANCELLED,  # a used card lost afterwards
}


@dataclass(frozen=True)
class CardRecord:
    serial: str  # 16 upper-case hex digits
    election_id: str
    terminal_id: TerminalId
    station_id: StationId
    public_key: str  # Ed25519, 64 hex digits
    issued_at: str  # ISO 8601, Japan time
    state: CardRecordState = CardRecordState.ISSUED
    used_at: str | None = None
    cancelled_at: str | None = None
    cancel_reason: str | None = None

    @property
    def public_key_bytes(self) -> bytes:
        return bytes.fromhex(self.public_key)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "CardRecord":
        return CardRecord(
            serial=str(d["serial"]), election_id=str(d["election_id"]),
            terminal_id=TerminalId(str(d["terminal_id"])), station_id=StationId(str(d["station_id"])),
            public_key=str(d["public_key"]), issued_at=str(d["issued_at"]),
            state=CardRecordState(d["state"]), used_at=d.get("used_at"),
            cancelled_at=d.get("cancelled_at"), cancel_reason=d.get("cancel_reason"))


def normalise_serial(serial: str) -> str:
    s = serial.strip().replace(":", "").replace(" ", "").upper()
    if not _SERIAL.match(s):
        raise CardUnknown(f"カードのシリアル番号は 16 桁の 16 進数です: {serial!r}", code="bad_serial")
    return s


def cards_path(hq_root: Path) -> Path:
    return hq_root / "cards.json"


def load_cards(hq_root: Path) -> list[CardRecord]:
    """All records, oldest first (empty when no card was ever issued)."""
    path = cards_path(hq_root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CardsFileInvalid(f"カード台帳を読めません: {path} ({e.strerror})") from None
    try:
        d = json.loads(raw)
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r}")
        return [CardRecord.from_json(r) for r in d["cards"]]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CardsFileInvalid(f"カード台帳が壊れています: {path} ({e})") from None


def _save(hq_root: Path, cards: list[CardRecord]) -> None:
    body = {"format": FORMAT, "cards": [c.to_json() for c in cards]}
    write_atomic(cards_path(hq_root), json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"))


@contextmanager
def _locked(hq_root: Path) -> Iterator[None]:
    hq_root.mkdir(parents=True, exist_ok=True)
    with open(hq_root / "cards.json.lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def find_card(hq_root: Path, serial: str) -> CardRecord:
    s = normalise_serial(serial)
    for c in load_cards(hq_root):
        if c.serial == s:
            return c
    raise CardUnknown(f"このカードは台帳にありません（シリアル {s}）", serial=s)


def usable_card(hq_root: Path, serial: str, election_id: str) -> CardRecord:
    """The record of a card that may enroll a terminal now (for HQ's enrollment endpoint).

    ``CardUnknown`` if HQ never issued it; ``CardStateConflict`` (code ``card_used`` /
    ``card_cancelled`` / ``card_other_election``) otherwise."""
    rec = find_card(hq_root, serial)
    if rec.election_id != election_id:
        raise CardStateConflict(f"別の選挙のカードです（{rec.election_id}）", code="card_other_election",
                                serial=rec.serial)
    if rec.state is not CardRecordState.ISSUED:
        raise CardStateConflict(f"カード {rec.serial} は「{rec.state.ja}」です", code=f"card_{rec.state.value}",
                                serial=rec.serial, state=rec.state.value)
    return rec


def active_card_for(hq_root: Path, terminal: str) -> CardRecord | None:
    """The issued (not yet used, not cancelled) card of a terminal, if any."""
    for c in load_cards(hq_root):
        if c.terminal_id == terminal and c.state is CardRecordState.ISSUED:
            return c
    return None


def record_issued(hq_root: Path, record: CardRecord) -> None:
    """Add a newly issued card. Refuses a serial already known, or a second live card per terminal."""
    with _locked(hq_root):
        cards = load_cards(hq_root)
        for c in cards:
            if c.serial == record.serial:
                raise CardStateConflict(f"このシリアルのカードは既に台帳にあります: {record.serial}",
                                        code="card_serial_exists", serial=record.serial)
            if c.terminal_id == record.terminal_id and c.state is CardRecordState.ISSUED:
                raise CardStateConflict(
                    f"端末 {record.terminal_id} には未使用の発行済みカード（{c.serial}）があります。"
                    "先に cancel-card で取り消してください", code="terminal_has_card", serial=c.serial)
        _save(hq_root, cards + [record])


def _transition(hq_root: Path, serial: str, action: str, **changes: Any) -> CardRecord:
    s = normalise_serial(serial)
    with _locked(hq_root):
        cards = load_cards(hq_root)
        for i, c in enumerate(cards):
            if c.serial == s:
                to = TRANSITIONS.get((c.state, action))
                if to is None:
                    raise CardStateConflict(
                        f"カード {s} は「{c.state.ja}」のため、この操作はできません",
                        code=f"card_{c.state.value}", serial=s, state=c.state.value)
                new = replace(c, state=to, **changes)
                cards[i] = new
                _save(hq_root, cards)
                return new
    raise CardUnknown(f"このカードは台帳にありません（シリアル {s}）", serial=s)


def mark_used(hq_root: Path, serial: str, clock: Clock) -> CardRecord:
    """HQ accepted an enrollment with this card: issued → used (for the enrollment endpoint)."""
    return _transition(hq_root, serial, "use", used_at=clock.now().isoformat())


def cancel(hq_root: Path, serial: str, reason: str, clock: Clock) -> CardRecord:
    """A lost, locked or spoiled card: it can never enroll a terminal again."""
    if not reason.strip():
        raise CardRecordError("取り消しの理由を入力してください", code="reason_required")
    return _transition(hq_root, serial, "cancel", cancelled_at=clock.now().isoformat(),
                       cancel_reason=reason.strip())
