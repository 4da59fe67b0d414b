"""Enrollment by smart card (カードによる端末登録): the protocol as pure state machines, both sides.

Owns: the terminal's and HQ's enrollment states and their transition tables, the messages (JSON
objects, parsed strictly), the challenge the card signs, and HQ's admission rules. Pure: no
sockets, files, readers, clocks or randomness (nonces and keys are passed in). Never imports
aiohttp, pyscard, the card register (cards.py) or the terminal store; the adapters
(enroll_server.py, enroll_client.py) feed it facts and carry its messages.

The exchange (docs/enrollment.md):

    terminal                                            HQ (enrollment port, TLS, server auth only)
    read card, PIN, make Ed25519 device key and a TLS key + CSR (they never leave the terminal)
    GET  /enroll/v1/ca        ─────────────────────────▶ {election, ca_pem}
         check SHA-256(CA DER) == card fingerprint; from here TLS verifies HQ against that CA only
    POST /enroll/v1/hello     {serial, terminal, station, replace} ▶ admit? → {session, nonce}
         challenge = H(label, election, serial, session, nonce, SHA-256(CSR DER), device_pub, replace)
         card INTERNAL AUTHENTICATE(challenge)
    POST /enroll/v1/prove     {session, csr, device_pub, signature} ▶ verify with the card key HQ
                                                          recorded at issue; admit again → PROVEN
    GET  /enroll/v1/roll/N    (session) ◀─────────────── the signed roll packages (full + deltas)
         install the roll (staging directory); card MARK USED
    POST /enroll/v1/commit    {session} ───────────────▶ issue the device certificate, mark the card
                                                          used, register (revoking the old identity
                                                          on --replace) → {certificate}
         write certificate, rename the staging directory into place: enrolled.

Why the challenge binds what it binds: HQ's nonce and session make it fresh and single-use; the
CSR hash and device key tie the card's "yes" to *these* keys, so a signature seen on the wire
cannot enroll another key pair; ``replace`` makes an accidental re-enrollment unforgeable.
Nothing durable happens at HQ before COMMIT, and the card is marked used just before it, so a
failure at any earlier step leaves HQ's register, the card and the terminal as they were.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ground.errors import IllegalTransition, MeiboError

PROTOCOL = "meibo-enroll/1"
CHALLENGE_LABEL = b"meibo-enroll-challenge-v1"
NONCE_LEN = 32
SESSION_LEN = 16  # bytes; sent as 32 hex digits
PORT_OFFSET = 1  # default enrollment port = the sync port of [hq] address + 1
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_HEX = re.compile(r"^[0-9a-f]*$")


# --- errors ------------------------------------------------------------------------------------

class EnrollError(MeiboError):
    """Base of enrollment errors (the card's own errors come from card_client unchanged)."""

    code = "enroll_error"


class EnrollRefused(EnrollError):
    """HQ said no (card used, cancelled, other election, terminal already enrolled, …)."""

    code = "enroll_refused"


class EnrollProtocolError(EnrollError):
    """A message that does not follow the protocol (malformed, wrong field, wrong session)."""

    code = "enroll_protocol_error"


class EnrollUnavailable(EnrollRefused):
    """HQ cannot enroll anyone just now (its CA key is kept offline, its desk is full): the same
    request may succeed later (HTTP 503)."""


class TooManyFromSource(EnrollRefused):
    """Too many enrollments under way from one client address (HTTP 429)."""


class HqNotTrusted(EnrollError):
    code = "hq_not_trusted"


class AlreadyEnrolled(EnrollError):
    code = "already_enrolled"


# HQ refusal codes → Japanese, for the terminal's screen (HQ sends the code; the terminal words it).
REFUSALS: dict[str, str] = {
    "card_unknown": "このカードは本部の台帳にありません（別の本部のカードか、発行の記録がありません）",
    "card_used": "このカードは本部で使用済みになっています。本部で新しいカードを発行してください",
    "card_cancelled": "このカードは本部で取り消されています。本部で新しいカードを発行してください",
    "card_other_election": "別の選挙のカードです。この選挙のカードを使ってください",
    "card_mismatch": "カードの端末・投票所が本部の台帳と一致しません。本部に連絡してください",
    "terminal_already_enrolled": "この端末 ID はすでに登録されています。登録し直すときは --replace を付けてください"
                                 "（古い端末は失効します）",
    "card_auth_failed": "カードの認証に失敗しました（本部が記録したカードの鍵と一致しません）",
    "csr_invalid": "端末の証明書要求が正しくありません",
    "session_unknown": "登録の手続きが時間切れか、すでに終わっています。最初からやり直してください",
    "roll_not_published": "本部で名簿がまだ公開されていません。本部で meibo roll publish を実行してから登録してください",
    "ca_key_missing": "本部の選挙 CA の鍵がありません（オフライン保管中）。本部で鍵を戻してから登録してください",
    "busy": "本部の登録窓口が混み合っています。しばらくしてからやり直してください",
    "too_many_from_source": "この接続元からの登録手続きが多すぎます。進行中の登録が終わるか、"
                            "しばらくしてからやり直してください",
    "bad_request": "本部が要求を受け付けませんでした（形式の誤り）",
}


# Refusals the caller treats otherwise than "no": try later, or from fewer sessions at once.
_REFUSAL_CLASS: dict[str, type[EnrollRefused]] = {"ca_key_missing": EnrollUnavailable, "busy": EnrollUnavailable,
                                                  "too_many_from_source": TooManyFromSource}


def refusal(code: str, **details: Any) -> EnrollRefused:
    cls = _REFUSAL_CLASS.get(code, EnrollRefused)
    return cls(REFUSALS.get(code, f"本部が登録を拒否しました（{code}）"), code=code, **details)


# --- the terminal's state table ----------------------------------------------------------------

class TState(str, Enum):
    START = "start"
    CARD_READ = "card_read"  # カード読取済み (nothing secret yet)
    PIN_VERIFIED = "pin_verified"
    KEYS_READY = "keys_ready"  # device key + TLS key + CSR made in the staging directory
    HQ_TRUSTED = "hq_trusted"  # HQ's CA matched the card's fingerprint
    CHALLENGED = "challenged"
    CARD_SIGNED = "card_signed"
    PROVEN = "proven"  # HQ verified the card's signature
    ROLL_INSTALLED = "roll_installed"
    CARD_MARKED = "card_marked"  # the card counted its one use
    CERTIFIED = "certified"  # HQ committed and sent the certificate
    ENROLLED = "enrolled"  # the staging directory is in place
    FAILED = "failed"


T_TABLE: dict[tuple[TState, str], TState] = {
    (TState.START, "card_read"): TState.CARD_READ,
    (TState.CARD_READ, "pin_verified"): TState.PIN_VERIFIED,
    (TState.PIN_VERIFIED, "keys_made"): TState.KEYS_READY,
    (TState.KEYS_READY, "hq_trusted"): TState.HQ_TRUSTED,
    (TState.HQ_TRUSTED, "challenge"): TState.CHALLENGED,
    (TState.CHALLENGED, "card_signed"): TState.CARD_SIGNED,
    (TState.CARD_SIGNED, "proven"): TState.PROVEN,
    (TState.PROVEN, "roll_installed"): TState.ROLL_INSTALLED,
    (TState.ROLL_INSTALLED, "card_marked"): TState.CARD_MARKED,
    (TState.CARD_MARKED, "certified"): TState.CERTIFIED,
    (TState.CERTIFIED, "committed"): TState.ENROLLED,
}
for _s in TState:
    if _s not in (TState.ENROLLED, TState.FAILED):
        T_TABLE[(_s, "fail")] = TState.FAILED

def _path() -> tuple[TState, ...]:
    path = [TState.START]
    while nxt := [b for (a, e), b in T_TABLE.items() if a is path[-1] and e != "fail"]:
        path.append(nxt[0])
    return tuple(path)


# The terminal's states in the order a successful enrollment reaches them, START first
# (enroll_client's ``on_state`` reports them after START, one per transition).
T_PATH: tuple[TState, ...] = _path()

# From these states on HQ holds a session: a failure should tell HQ (abort), which forgets it.
T_HQ_SESSION = {TState.CHALLENGED, TState.CARD_SIGNED, TState.PROVEN, TState.ROLL_INSTALLED, TState.CARD_MARKED}


# --- HQ's state table ----------------------------------------------------------------------------

class HState(str, Enum):
    CHALLENGED = "challenged"  # hello admitted, nonce sent
    PROVEN = "proven"  # the card's signature verified; roll may be fetched
    ENROLLED = "enrolled"  # committed: certificate issued, card used, terminal registered
    ABORTED = "aborted"  # the terminal gave up, or the session expired
    REFUSED = "refused"  # a bad proof: the session is dead


H_TABLE: dict[tuple[HState, str], HState] = {
    (HState.CHALLENGED, "prove"): HState.PROVEN,
    (HState.CHALLENGED, "refuse"): HState.REFUSED,
    (HState.CHALLENGED, "abort"): HState.ABORTED,
    (HState.PROVEN, "commit"): HState.ENROLLED,
    (HState.PROVEN, "refuse"): HState.REFUSED,
    (HState.PROVEN, "abort"): HState.ABORTED,
}
H_ROLL_ALLOWED = {HState.PROVEN}


def step(table: dict[tuple[Any, str], Any], state: Any, event: str) -> Any:
    """The next state, or ``IllegalTransition`` (the caller's state is left unchanged)."""
    nxt = table.get((state, event))
    if nxt is None:
        raise IllegalTransition(f"登録の手順が正しくありません（{state.value} で {event} はできません）",
                                state=state.value, event=event)
    return nxt


# --- messages ------------------------------------------------------------------------------------

def _field(d: Any, key: str, kind: type, *, where: str) -> Any:
    if not isinstance(d, dict):
        raise EnrollProtocolError(f"{where}: JSON オブジェクトではありません", code="bad_request")
    v = d.get(key)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise EnrollProtocolError(f"{where}: 項目 {key} がないか、型が違います", code="bad_request", field=key)
    return v


def _hex(d: Any, key: str, n: int | None, *, where: str) -> bytes:
    v = _field(d, key, str, where=where)
    if not _HEX.match(v) or len(v) % 2 or (n is not None and len(v) != 2 * n):
        raise EnrollProtocolError(f"{where}: 項目 {key} は{'' if n is None else f' {n} バイトの'}16 進数（小文字）です",
                                  code="bad_request", field=key)
    return bytes.fromhex(v)


def _ident(d: Any, key: str, *, where: str) -> str:
    v = _field(d, key, str, where=where)
    if not _ID.match(v):
        raise EnrollProtocolError(f"{where}: 項目 {key} が正しくありません: {v[:40]!r}", code="bad_request", field=key)
    return str(v)


@dataclass(frozen=True)
class CaInfo:
    election_id: str
    ca_pem: bytes

    def to_json(self) -> dict[str, Any]:
        return {"protocol": PROTOCOL, "election": self.election_id, "ca_pem": self.ca_pem.decode("ascii")}

    @staticmethod
    def parse(d: Any) -> "CaInfo":
        if _field(d, "protocol", str, where="ca") != PROTOCOL:
            raise EnrollProtocolError("本部の登録窓口のプロトコルが違います", code="protocol_mismatch")
        pem = _field(d, "ca_pem", str, where="ca")
        if not pem.isascii() or len(pem) > 16384:
            raise EnrollProtocolError("ca: ca_pem が正しくありません", code="bad_request", field="ca_pem")
        return CaInfo(_ident(d, "election", where="ca"), pem.encode("ascii"))


@dataclass(frozen=True)
class Hello:
    election_id: str
    card_serial: bytes  # 8 bytes
    terminal: str
    station: str
    replace: bool

    def to_json(self) -> dict[str, Any]:
        return {"protocol": PROTOCOL, "election": self.election_id, "card_serial": self.card_serial.hex(),
                "terminal": self.terminal, "station": self.station, "replace": self.replace}

    @staticmethod
    def parse(d: Any) -> "Hello":
        if _field(d, "protocol", str, where="hello") != PROTOCOL:
            raise EnrollProtocolError("端末の登録プロトコルが違います", code="protocol_mismatch")
        return Hello(_ident(d, "election", where="hello"), _hex(d, "card_serial", 8, where="hello"),
                     _ident(d, "terminal", where="hello"), _ident(d, "station", where="hello"),
                     bool(_field(d, "replace", bool, where="hello")))


@dataclass(frozen=True)
class Challenge:
    session: bytes
    nonce: bytes

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session.hex(), "nonce": self.nonce.hex()}

    @staticmethod
    def parse(d: Any) -> "Challenge":
        return Challenge(_hex(d, "session", SESSION_LEN, where="challenge"), _hex(d, "nonce", NONCE_LEN, where="challenge"))


@dataclass(frozen=True)
class Proof:
    session: bytes
    csr_der: bytes
    device_pub: bytes  # Ed25519, 32 bytes: signs the terminal's journal batches
    signature: bytes  # the card's INTERNAL AUTHENTICATE answer, 64 bytes

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session.hex(), "csr": self.csr_der.hex(), "device_pub": self.device_pub.hex(),
                "signature": self.signature.hex()}

    @staticmethod
    def parse(d: Any) -> "Proof":
        csr = _hex(d, "csr", None, where="prove")
        if not 32 <= len(csr) <= 4096:
            raise EnrollProtocolError("prove: csr の長さが正しくありません", code="bad_request", field="csr")
        return Proof(_hex(d, "session", SESSION_LEN, where="prove"), csr, _hex(d, "device_pub", 32, where="prove"),
                     _hex(d, "signature", 64, where="prove"))


@dataclass(frozen=True)
class RollRef:
    version: int
    kind: str
    size: int
    sha256: str  # of the whole package file


@dataclass(frozen=True)
class Proven:
    """HQ's answer to a good proof: what the terminal needs before it commits."""

    election_toml: bytes
    hq_roll_pub: bytes  # Ed25519, 32 bytes: verifies roll packages
    hq_address: str  # the sync endpoint the terminal will use
    rolls: tuple[RollRef, ...]  # a full package and the deltas after it, in order

    def to_json(self) -> dict[str, Any]:
        return {"election_toml": self.election_toml.decode("utf-8"), "hq_roll_pub": self.hq_roll_pub.hex(),
                "hq_address": self.hq_address,
                "rolls": [{"version": r.version, "kind": r.kind, "size": r.size, "sha256": r.sha256} for r in self.rolls]}

    @staticmethod
    def parse(d: Any) -> "Proven":
        toml = _field(d, "election_toml", str, where="proven")
        rolls_raw = _field(d, "rolls", list, where="proven")
        rolls: list[RollRef] = []
        for i, r in enumerate(rolls_raw):
            w = f"proven.rolls[{i}]"
            kind = _field(r, "kind", str, where=w)
            version, size = _field(r, "version", int, where=w), _field(r, "size", int, where=w)
            sha = _field(r, "sha256", str, where=w)
            if kind not in ("full", "delta") or version < 1 or size < 1 or not re.match(r"^[0-9a-f]{64}$", sha):
                raise EnrollProtocolError(f"{w}: 名簿の版の記述が正しくありません", code="bad_request")
            rolls.append(RollRef(version, kind, size, sha))
        if not rolls or rolls[0].kind != "full" or any(r.kind != "delta" for r in rolls[1:]) or \
                any(b.version != a.version + 1 for a, b in zip(rolls, rolls[1:])):
            raise EnrollProtocolError("proven: 名簿の版の並びが正しくありません（全件 1 つと続く差分）", code="bad_request")
        addr = _field(d, "hq_address", str, where="proven")
        if not re.match(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$", addr):
            raise EnrollProtocolError("proven: hq_address が正しくありません", code="bad_request")
        return Proven(toml.encode("utf-8"), _hex(d, "hq_roll_pub", 32, where="proven"), addr, tuple(rolls))


@dataclass(frozen=True)
class Certified:
    certificate_pem: bytes
    serial: int
    revoked_serials: tuple[int, ...]  # the old identity's certificates, on --replace

    def to_json(self) -> dict[str, Any]:
        return {"certificate_pem": self.certificate_pem.decode("ascii"), "serial": str(self.serial),
                "revoked_serials": [str(s) for s in self.revoked_serials]}

    @staticmethod
    def parse(d: Any) -> "Certified":
        pem = _field(d, "certificate_pem", str, where="commit")
        serial = _field(d, "serial", str, where="commit")
        rev = _field(d, "revoked_serials", list, where="commit")
        if not serial.isdigit() or not all(isinstance(s, str) and s.isdigit() for s in rev) or not pem.isascii():
            raise EnrollProtocolError("commit: 証明書の応答が正しくありません", code="bad_request")
        return Certified(pem.encode("ascii"), int(serial), tuple(int(s) for s in rev))


def session_of(d: Any, where: str) -> bytes:
    return _hex(d, "session", SESSION_LEN, where=where)


# --- the challenge and the small crypto verbs ---------------------------------------------------

def _lp(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def challenge_for(election_id: str, card_serial: bytes, session: bytes, nonce: bytes, csr_der: bytes,
                  device_pub: bytes, replace: bool) -> bytes:
    """The 32 bytes the card signs (it prefixes its own context and serial, applet.auth_message)."""
    parts = [CHALLENGE_LABEL, election_id.encode("utf-8"), card_serial, session, nonce,
             hashlib.sha256(csr_der).digest(), device_pub, b"\x01" if replace else b"\x00"]
    return hashlib.sha256(b"".join(_lp(p) for p in parts)).digest()


def make_csr(key_pem: bytes, terminal: str) -> bytes:
    """A CSR (DER) for the terminal's TLS key: proof that the terminal holds the private key."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, terminal)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


def csr_public_key(csr_der: bytes) -> ec.EllipticCurvePublicKey:
    """The CSR's P-256 key if its self-signature verifies; ``EnrollRefused(csr_invalid)`` otherwise."""
    try:
        csr = x509.load_der_x509_csr(csr_der)
        key = csr.public_key()
        ok = csr.is_signature_valid
    except (ValueError, TypeError):
        raise refusal("csr_invalid") from None
    if not ok or not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise refusal("csr_invalid")
    return key


def fingerprint(ca_pem: bytes) -> bytes:
    try:
        cert = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise HqNotTrusted("本部の CA 証明書が読めません", code="hq_not_trusted") from None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


# --- HQ's admission rules -----------------------------------------------------------------------

@dataclass(frozen=True)
class CardFacts:
    """What HQ's card register says about the card (cards.CardRecord, as plain facts)."""

    serial: bytes
    election_id: str
    terminal: str
    station: str
    public_key: bytes
    state: str  # issued | used | cancelled


def admit(hello: Hello, election_id: str, card: CardFacts | None, terminal_active: bool,
          roll_published: bool) -> None:
    """May this card start (or, re-checked at prove and commit, finish) an enrollment? Raises
    ``EnrollRefused`` with the code the terminal shows; returns when every rule holds."""
    if hello.election_id != election_id:
        raise refusal("card_other_election", card_election=hello.election_id)
    if card is None:
        raise refusal("card_unknown")
    if card.election_id != election_id:
        raise refusal("card_other_election", card_election=card.election_id)
    if card.state != "issued":
        raise refusal(f"card_{card.state}" if card.state in ("used", "cancelled") else "card_unknown")
    if (card.terminal, card.station) != (hello.terminal, hello.station):
        raise refusal("card_mismatch", record_terminal=card.terminal, record_station=card.station)
    if terminal_active and not hello.replace:
        raise refusal("terminal_already_enrolled", terminal=card.terminal)
    if not roll_published:
        raise refusal("roll_not_published")


def roll_chain(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """From HQ's published versions (oldest first): the newest full package and every delta after it."""
    last_full = max((i for i, v in enumerate(versions) if v["kind"] == "full"), default=None)
    return [] if last_full is None else versions[last_full:]


def enrollment_address(hq_address: str) -> str:
    """The default enrollment endpoint: the sync endpoint's host, port + ``PORT_OFFSET``."""
    host, port = hq_address.rsplit(":", 1)
    return f"{host}:{int(port) + PORT_OFFSET}"
