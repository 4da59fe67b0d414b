"""The enrollment card's applet (登録カード): an ISO 7816-4 state machine, APDU bytes in → bytes out.

Owns: the card's behaviour, specified command by command in docs/card.md (with test vectors).
Pure: no sockets, files, readers or clocks; randomness (for the on-card key) is a source passed
in. Never imports hardware/, pcsc, the virtual card or the HQ records. The same object runs inside
the in-process fake reader, the vpcd virtual card and (in spirit) a real Java Card port.

Rules the card keeps:
- A life cycle: PERSONALISING (blank, writable) → ISSUED (FINALISE: nothing can be rewritten).
- The private key is generated ON the card (GENERATE KEY, personalisation only) and no command
  ever returns it; INTERNAL AUTHENTICATE signs ``AUTH_CONTEXT || serial || challenge`` so that a
  signature made for enrollment cannot be replayed as a signature over anything else.
- VERIFY PIN: 3 tries; a wrong PIN answers 63Cx (x tries remain), the third locks the card for
  good (6983). A correct PIN restores the counter. The verified flag lives for one session
  (until SELECT, reset or power-off), never in the persistent state.
- A use counter: MARK USED (after HQ accepted an enrollment) counts one use; a used card no longer
  signs, so a card enrolls one terminal once.
- DERIVE AT-REST KEY (after the PIN, in any use count): HMAC-SHA256 under a key derived on the
  card from its private seed (domain-separated, so it is never the signing key), over
  ``ATREST_CONTEXT || serial || challenge``. The terminal mixes the answer into the key that seals
  its store (appliance/atrest.py ``pin+card``): a copied disk cannot be opened, nor its PIN
  guessed offline, without this card — and the card itself allows 3 PIN tries.
- Every command is looked up in one table (``COMMANDS``): which life cycles allow it and whether
  it needs the PIN. A refused command raises ``CardStatus`` inside and answers its status word;
  the persistent state is replaced only when a handler returns a new one, so a refusal changes
  nothing (a test checks this for every row).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.exceptions import InvalidSignature

AID = bytes.fromhex("F04D4549424F01")  # proprietary RID F0 + "MEIBO" + version 01
AUTH_CONTEXT = b"meibo-enrollment-card-auth-v1\x00"  # domain separation for INTERNAL AUTHENTICATE
ATREST_CONTEXT = b"meibo-card-atrest-v1\x00"  # domain separation for DERIVE AT-REST KEY
ATREST_KEY_LABEL = b"meibo-card-atrest-hmac-key-v1"  # the card's HMAC key = HMAC(seed, label)
ATREST_CHALLENGE = 32
PIN_TRIES = 3
PIN_MIN, PIN_MAX = 4, 12
MAX_USES = 1
CHALLENGE_MIN, CHALLENGE_MAX = 16, 128
SERIAL_LEN = 8


def _make_atr(historical: bytes) -> bytes:
    # TS=3B direct convention; T0: TD1 present + K historical bytes; TD1=01: T=1 only (so the
    # reader passes whole APDUs, no T=0 GET RESPONSE dance); TCK = XOR of T0..last byte.
    body = bytes([0x80 | len(historical), 0x01]) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3B" + body + bytes([tck])


ATR = _make_atr(b"MEIBO-01")

RandomSource = Callable[[int], bytes]  # os.urandom, or random.Random(seed).randbytes in tests


class Lifecycle(IntEnum):
    PERSONALISING = 0x01  # blank or being written at HQ
    ISSUED = 0x07  # finalised: data and key are fixed


class SW(IntEnum):
    """Status words the card answers (ISO 7816-4 §5.1.3)."""

    OK = 0x9000
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982  # PIN not verified in this session
    PIN_BLOCKED = 0x6983
    CONDITIONS_NOT_SATISFIED = 0x6985  # wrong life cycle, card used, applet not selected
    WRONG_DATA = 0x6A80
    NOT_FOUND = 0x6A82  # SELECT of another AID
    WRONG_P1P2 = 0x6A86
    DATA_NOT_FOUND = 0x6A88  # unknown tag, or a data object not written yet
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


def sw_pin_tries(n: int) -> int:
    return 0x63C0 | (n & 0x0F)


class Tag(IntEnum):
    """GET DATA / PUT DATA objects (P1P2)."""

    ELECTION_ID = 0x0101
    HQ_ADDRESS = 0x0102
    HQ_CA_FINGERPRINT = 0x0103  # SHA-256 of the election CA certificate (DER)
    TERMINAL_ID = 0x0104
    STATION_ID = 0x0105
    SERIAL = 0x0110  # read only, set at manufacture
    PUBLIC_KEY = 0x0111  # read only, set by GENERATE KEY
    USE_COUNTER = 0x0112  # read only, counted by MARK USED
    LIFECYCLE = 0x0113  # read only


WRITABLE: dict[Tag, tuple[int, int]] = {  # tag → (min, max) length in bytes
    Tag.ELECTION_ID: (1, 32),
    Tag.HQ_ADDRESS: (1, 64),
    Tag.HQ_CA_FINGERPRINT: (32, 32),
    Tag.TERMINAL_ID: (1, 32),
    Tag.STATION_ID: (1, 32),
}
TEXT_TAGS = {Tag.ELECTION_ID, Tag.HQ_ADDRESS, Tag.TERMINAL_ID, Tag.STATION_ID}


@dataclass(frozen=True)
class CardState:
    """Everything the card remembers across power cycles (its EEPROM). Serialised by card_state.py."""

    serial: bytes
    lifecycle: Lifecycle = Lifecycle.PERSONALISING
    data: tuple[tuple[int, bytes], ...] = ()  # written data objects, sorted by tag
    pin_hash: bytes | None = None
    pin_tries: int = PIN_TRIES
    key_seed: bytes | None = None  # Ed25519 private seed: never leaves the card
    use_counter: int = 0

    def get(self, tag: Tag) -> bytes | None:
        return dict(self.data).get(int(tag))

    def with_data(self, tag: Tag, value: bytes) -> "CardState":
        d = dict(self.data)
        d[int(tag)] = value
        return replace(self, data=tuple(sorted(d.items())))

    @property
    def public_key(self) -> bytes | None:
        if self.key_seed is None:
            return None
        return _public_of(self.key_seed)


def blank_card(random: RandomSource) -> CardState:
    """A new blank card with a serial drawn from ``random`` (the factory's job)."""
    return CardState(serial=random(SERIAL_LEN))


class CardStatus(Exception):
    """Raised inside the applet for a refused command; becomes the status word answered."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{int(sw):04X}")
        self.sw = int(sw)


@dataclass(frozen=True)
class Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None when absent; 256 for Le=00


def parse_apdu(raw: bytes) -> Apdu:
    """Short APDUs, cases 1–4 (ISO 7816-3 §12.1). Extended length is not used by this applet."""
    if len(raw) < 4:
        raise CardStatus(SW.WRONG_LENGTH)
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    body = raw[4:]
    if not body:
        return Apdu(cla, ins, p1, p2, b"", None)
    if len(body) == 1:
        return Apdu(cla, ins, p1, p2, b"", body[0] or 256)
    lc = body[0]
    if lc == 0:  # extended length marker
        raise CardStatus(SW.WRONG_LENGTH)
    if len(body) == 1 + lc:
        return Apdu(cla, ins, p1, p2, bytes(body[1:]), None)
    if len(body) == 2 + lc:
        return Apdu(cla, ins, p1, p2, bytes(body[1:1 + lc]), body[1 + lc] or 256)
    raise CardStatus(SW.WRONG_LENGTH)


@dataclass(frozen=True)
class Session:
    """Transient: what the card forgets at power-off, reset or a new SELECT."""

    selected: bool = False
    pin_verified: bool = False


@dataclass(frozen=True)
class Result:
    state: CardState
    session: Session
    data: bytes = b""
    sw: int = SW.OK


Handler = Callable[[CardState, Session, Apdu, RandomSource], Result]


def _pin_hash(serial: bytes, pin: bytes) -> bytes:
    return hashlib.sha256(b"meibo-card-pin\x00" + serial + pin).digest()


def _valid_pin(pin: bytes) -> bool:
    return PIN_MIN <= len(pin) <= PIN_MAX and pin.isdigit()


def _public_of(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def auth_message(serial: bytes, challenge: bytes) -> bytes:
    """What INTERNAL AUTHENTICATE signs: context, the card's serial, then HQ's challenge."""
    return AUTH_CONTEXT + serial + challenge


def verify_card_signature(public_key: bytes, serial: bytes, challenge: bytes, signature: bytes) -> bool:
    """HQ's check of an INTERNAL AUTHENTICATE answer against the public key it recorded."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, auth_message(serial, challenge))
        return True
    except (InvalidSignature, ValueError):
        return False


# --- handlers: each gets the state and session, returns a Result or raises CardStatus ---------

def _select(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    if a.p1 != 0x04 or a.p2 not in (0x00, 0x0C):
        raise CardStatus(SW.WRONG_P1P2)
    if a.data != AID:
        # Another application: deselect ours (ISO: the current selection is kept only on success,
        # but a host that selects something else is done with us, so drop the PIN too).
        return Result(st, Session(), sw=SW.NOT_FOUND)
    fci = b"\xC0" + bytes([SERIAL_LEN]) + st.serial + b"\xC1\x01" + bytes([st.lifecycle])
    return Result(st, Session(selected=True), b"" if a.p2 == 0x0C else fci)


def _verify(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    if a.p1 != 0x00 or a.p2 != 0x80:
        raise CardStatus(SW.WRONG_P1P2)
    if st.pin_hash is None:
        raise CardStatus(SW.DATA_NOT_FOUND)
    if st.pin_tries == 0:
        raise CardStatus(SW.PIN_BLOCKED)
    if not a.data:  # ISO: VERIFY without data asks how many tries remain
        if ss.pin_verified:
            return Result(st, ss)
        return Result(st, ss, sw=sw_pin_tries(st.pin_tries))
    if hmac.compare_digest(_pin_hash(st.serial, a.data), st.pin_hash):
        return Result(replace(st, pin_tries=PIN_TRIES), replace(ss, pin_verified=True))
    left = st.pin_tries - 1
    # A wrong PIN is a legal transition: it is counted (persisted) before the answer leaves.
    return Result(replace(st, pin_tries=left), replace(ss, pin_verified=False),
                  sw=SW.PIN_BLOCKED if left == 0 else sw_pin_tries(left))


def _set_pin(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    # CHANGE REFERENCE DATA with P1=01: new PIN only, no old one (personalisation).
    if a.p1 != 0x01 or a.p2 != 0x80:
        raise CardStatus(SW.WRONG_P1P2)
    if not _valid_pin(a.data):
        raise CardStatus(SW.WRONG_DATA)
    return Result(replace(st, pin_hash=_pin_hash(st.serial, a.data), pin_tries=PIN_TRIES), ss)


def _tag(a: Apdu) -> Tag:
    try:
        return Tag((a.p1 << 8) | a.p2)
    except ValueError:
        raise CardStatus(SW.DATA_NOT_FOUND) from None


def _get_data(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    tag = _tag(a)
    if tag is Tag.SERIAL:
        value: bytes | None = st.serial
    elif tag is Tag.PUBLIC_KEY:
        value = st.public_key
    elif tag is Tag.USE_COUNTER:
        value = bytes([st.use_counter])
    elif tag is Tag.LIFECYCLE:
        value = bytes([st.lifecycle])
    else:
        value = st.get(tag)
    if value is None:
        raise CardStatus(SW.DATA_NOT_FOUND)
    return Result(st, ss, value)


def _put_data(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    tag = _tag(a)
    if tag not in WRITABLE:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    lo, hi = WRITABLE[tag]
    if not lo <= len(a.data) <= hi:
        raise CardStatus(SW.WRONG_LENGTH)
    if tag in TEXT_TAGS:
        try:
            text = a.data.decode("utf-8")
        except UnicodeDecodeError:
            raise CardStatus(SW.WRONG_DATA) from None
        if not text.isprintable():
            raise CardStatus(SW.WRONG_DATA)
    return Result(st.with_data(tag, a.data), ss)


def _generate_key(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    # GENERATE ASYMMETRIC KEY PAIR, P1=80: generate (replacing any key of this personalisation).
    if a.p1 != 0x80 or a.p2 != 0x00:
        raise CardStatus(SW.WRONG_P1P2)
    if a.data:
        raise CardStatus(SW.WRONG_LENGTH)
    seed = rnd(32)
    if len(seed) != 32:
        raise CardStatus(0x6F00)
    return Result(replace(st, key_seed=seed), ss, _public_of(seed))


def _internal_authenticate(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    if a.p1 != 0x00 or a.p2 != 0x00:
        raise CardStatus(SW.WRONG_P1P2)
    if not CHALLENGE_MIN <= len(a.data) <= CHALLENGE_MAX:
        raise CardStatus(SW.WRONG_LENGTH)
    if st.use_counter >= MAX_USES or st.key_seed is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    sig = Ed25519PrivateKey.from_private_bytes(st.key_seed).sign(auth_message(st.serial, a.data))
    return Result(st, ss, sig)


def atrest_answer(seed: bytes, serial: bytes, challenge: bytes) -> bytes:
    """What DERIVE AT-REST KEY answers (computed on the card; here for the card's own use and
    the doc vectors: a host never has ``seed``)."""
    card_key = hmac.new(seed, ATREST_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(card_key, ATREST_CONTEXT + serial + challenge, hashlib.sha256).digest()


def _derive_atrest(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    # Not limited by the use counter: the card keeps opening its terminal's store after enrollment.
    if a.p1 != 0x00 or a.p2 != 0x00:
        raise CardStatus(SW.WRONG_P1P2)
    if len(a.data) != ATREST_CHALLENGE:
        raise CardStatus(SW.WRONG_LENGTH)
    if st.key_seed is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    return Result(st, ss, atrest_answer(st.key_seed, st.serial, a.data))


def _mark_used(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    if a.p1 != 0x00 or a.p2 != 0x00:
        raise CardStatus(SW.WRONG_P1P2)
    if st.use_counter >= MAX_USES:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    n = st.use_counter + 1
    return Result(replace(st, use_counter=n), ss, bytes([n]))


def _finalise(st: CardState, ss: Session, a: Apdu, rnd: RandomSource) -> Result:
    if a.p1 != 0x00 or a.p2 != 0x00:
        raise CardStatus(SW.WRONG_P1P2)
    complete = all(st.get(t) is not None for t in WRITABLE) and st.pin_hash and st.key_seed
    if not complete:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    return Result(replace(st, lifecycle=Lifecycle.ISSUED), ss)


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    lifecycles: frozenset[Lifecycle]  # where the command is allowed (else 6985)
    needs_pin: bool = False  # needs VERIFY PIN in this session (else 6982)
    needs_select: bool = True


_ANY = frozenset(Lifecycle)
_PERS = frozenset({Lifecycle.PERSONALISING})
_ISSUED = frozenset({Lifecycle.ISSUED})

# The state table: (CLA, INS) → what it does and when it is allowed. docs/card.md mirrors it.
COMMANDS: dict[tuple[int, int], Command] = {
    (0x00, 0xA4): Command("SELECT", _select, _ANY, needs_select=False),
    (0x00, 0x20): Command("VERIFY", _verify, _ISSUED),
    (0x00, 0x24): Command("SET PIN", _set_pin, _PERS),
    (0x00, 0xCA): Command("GET DATA", _get_data, _ANY),
    (0x00, 0xDA): Command("PUT DATA", _put_data, _PERS),
    (0x00, 0x47): Command("GENERATE KEY", _generate_key, _PERS),
    (0x00, 0x88): Command("INTERNAL AUTHENTICATE", _internal_authenticate, _ISSUED, needs_pin=True),
    (0x80, 0xE2): Command("MARK USED", _mark_used, _ISSUED, needs_pin=True),
    (0x80, 0xE4): Command("FINALISE", _finalise, _PERS),
    (0x80, 0xE6): Command("DERIVE AT-REST KEY", _derive_atrest, _ISSUED, needs_pin=True),
}
_KNOWN_CLA = {cla for cla, _ in COMMANDS}


def step(state: CardState, session: Session, raw: bytes, random: RandomSource) -> Result:
    """The pure transition: one command APDU in, the next state, session and answer out."""
    try:
        a = parse_apdu(raw)
        cmd = COMMANDS.get((a.cla, a.ins))
        if cmd is None:
            raise CardStatus(SW.CLA_NOT_SUPPORTED if a.cla not in _KNOWN_CLA else SW.INS_NOT_SUPPORTED)
        if cmd.needs_select and not session.selected:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if state.lifecycle not in cmd.lifecycles:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if cmd.needs_pin and state.pin_tries == 0:
            raise CardStatus(SW.PIN_BLOCKED)
        if cmd.needs_pin and not session.pin_verified:
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        return cmd.handler(state, session, a, random)
    except CardStatus as e:
        return Result(state, session, sw=e.sw)


class Applet:
    """The applet with its memory: ``process(apdu) -> response`` for the fake and the virtual card.

    ``on_change(state)`` is called with the new persistent state *before* the answer is returned,
    the way a card writes EEPROM before it answers; the virtual card persists it there.
    """

    def __init__(self, state: CardState, random: RandomSource,
                 on_change: Callable[[CardState], None] | None = None) -> None:
        self.state = state
        self.session = Session()
        self._random = random
        self._on_change = on_change

    @property
    def atr(self) -> bytes:
        return ATR

    def process(self, apdu: bytes) -> bytes:
        r = step(self.state, self.session, apdu, self._random)
        if r.state != self.state:
            if self._on_change is not None:
                self._on_change(r.state)  # may raise: then nothing changed and nothing is answered
            self.state = r.state
        self.session = r.session
        return r.data + int(r.sw).to_bytes(2, "big")

    def reset(self) -> None:
        """Power-off, reset or a new ATR: the session (selection, verified PIN) is forgotten."""
        self.session = Session()
