"""The host side of the enrollment card: the verbs HQ and the terminal speak to it over a reader.

Owns: building command APDUs and reading status words (docs/card.md), and the card errors named
for what the caller does next. Never imports pyscard, sockets or HQ records: it talks to any
``CardChannel`` (PC/SC, fake). Reader errors (``NoReader``, ``CardAbsent``, ``CardRemoved``,
``ReaderError``) pass through unchanged and are re-exported here, so a caller imports one module.
"""

from __future__ import annotations

from dataclasses import dataclass

from ground.errors import MeiboError
from hardware.cardreader.base import (CardAbsent, CardChannel, CardReaderError, CardRemoved, NoReader,
                                      ReaderError)
from provisioning.applet import AID, MAX_USES, PIN_MAX, PIN_MIN, PIN_TRIES, SW, Lifecycle, Tag

__all__ = ["CardAbsent", "CardAlreadyUsed", "CardClient", "CardError", "CardLocked", "CardNotBlank",
           "CardNotIssued", "CardOfOtherElection", "CardProtocolError", "CardReaderError",
           "CardRemoved", "EnrollmentData", "NoReader", "NotOurCard", "Personalisation",
           "PinInvalid", "ReaderError", "WrongPin", "valid_pin"]


class CardError(MeiboError):
    """Base of the enrollment card's errors (what the card said, as opposed to the reader)."""

    code = "card_error"


class WrongPin(CardError):
    code = "wrong_pin"

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"暗証番号が違います（あと {tries_left} 回間違えるとカードがロックされます）",
                         tries_left=tries_left)
        self.tries_left = tries_left


class CardLocked(CardError):
    code = "card_locked"

    def __init__(self) -> None:
        super().__init__("暗証番号を 3 回間違えたため、カードはロックされています。"
                         "選挙管理委員会でカードを取り消し、新しいカードを発行してください")


class CardAlreadyUsed(CardError):
    code = "card_already_used"


class CardOfOtherElection(CardError):
    code = "card_other_election"


class CardNotIssued(CardError):
    """A blank or half-written card: it was never finalised at HQ."""

    code = "card_not_issued"


class CardNotBlank(CardError):
    """issue-card on a card that is already issued: personalisation is locked."""

    code = "card_not_blank"


class NotOurCard(CardError):
    """The card has no meibo application (another kind of card)."""

    code = "not_meibo_card"


class PinInvalid(CardError):
    code = "pin_invalid"


class CardProtocolError(CardError):
    """The card answered something the protocol does not allow (a broken or foreign card)."""

    code = "card_protocol_error"


def valid_pin(pin: str) -> bool:
    return PIN_MIN <= len(pin) <= PIN_MAX and pin.isascii() and pin.isdigit()


@dataclass(frozen=True)
class Personalisation:
    """What HQ writes on a card at issue."""

    election_id: str
    hq_address: str
    hq_ca_fingerprint: bytes  # SHA-256 of the election CA certificate (DER)
    terminal_id: str
    station_id: str


@dataclass(frozen=True)
class EnrollmentData:
    """Everything the card tells a terminal before the PIN (none of it is secret)."""

    serial: bytes
    lifecycle: Lifecycle
    election_id: str
    hq_address: str
    hq_ca_fingerprint: bytes
    terminal_id: str
    station_id: str
    public_key: bytes
    use_counter: int

    @property
    def serial_hex(self) -> str:
        return self.serial.hex().upper()

    @property
    def used(self) -> bool:
        return self.use_counter >= MAX_USES


@dataclass(frozen=True)
class CardInfo:
    serial: bytes
    lifecycle: Lifecycle


def _apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    out = bytes([cla, ins, p1, p2])
    if data:
        out += bytes([len(data)]) + data
    if le is not None:
        out += bytes([le & 0xFF])
    return out


def _raise_if_pin_missing(sw: int) -> None:
    """The answers of a PIN-guarded command when the PIN was not verified or is blocked."""
    if sw == SW.SECURITY_NOT_SATISFIED:
        raise CardError("暗証番号の照合が済んでいません", code="pin_not_verified")
    if sw == SW.PIN_BLOCKED:
        raise CardLocked()


def _tlv(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    i = 0
    while i + 2 <= len(data):
        t, n = data[i], data[i + 1]
        out[t] = data[i + 2:i + 2 + n]
        i += 2 + n
    return out


class CardClient:
    """Verbs over one open ``CardChannel``. ``select()`` first; the PIN lasts for the channel."""

    def __init__(self, channel: CardChannel) -> None:
        self.channel = channel

    def _send(self, apdu: bytes) -> tuple[bytes, int]:
        resp = self.channel.transmit(apdu)
        if len(resp) < 2:
            raise CardProtocolError("カードの応答が短すぎます", code="card_protocol_error")
        return resp[:-2], int.from_bytes(resp[-2:], "big")

    def _ok(self, apdu: bytes, what: str) -> bytes:
        data, sw = self._send(apdu)
        if sw == SW.OK:
            return data
        if sw == SW.PIN_BLOCKED:
            raise CardLocked()
        if sw == SW.CONDITIONS_NOT_SATISFIED:
            raise CardError(f"カードが{what}を受け付けません（状態が合いません, SW={sw:04X}）",
                            code="card_refused", sw=f"{sw:04X}")
        raise CardProtocolError(f"カードが{what}でエラーを返しました（SW={sw:04X}）", sw=f"{sw:04X}")

    # --- verbs -------------------------------------------------------------------------------
    def select(self) -> CardInfo:
        data, sw = self._send(_apdu(0x00, 0xA4, 0x04, 0x00, AID, 0x00))
        if sw == SW.NOT_FOUND or sw == SW.INS_NOT_SUPPORTED or sw == SW.CLA_NOT_SUPPORTED:
            raise NotOurCard("meibo の登録カードではありません", code="not_meibo_card")
        if sw != SW.OK:
            raise CardProtocolError(f"カードのアプリケーションを選択できません（SW={sw:04X}）")
        fci = _tlv(data)
        try:
            return CardInfo(fci[0xC0], Lifecycle(fci[0xC1][0]))
        except (KeyError, IndexError, ValueError):
            raise CardProtocolError("カードの応答（SELECT）が読めません") from None

    def pin_tries_left(self) -> int:
        """Tries left before the card locks (0 = locked); 3 when the PIN is already verified."""
        data, sw = self._send(_apdu(0x00, 0x20, 0x00, 0x80))
        if sw == SW.OK:
            return PIN_TRIES
        if sw & 0xFFF0 == 0x63C0:
            return sw & 0x0F
        if sw == SW.PIN_BLOCKED:
            return 0
        if sw == SW.CONDITIONS_NOT_SATISFIED:
            raise CardNotIssued("このカードは発行（暗証番号の設定）が済んでいません")
        raise CardProtocolError(f"暗証番号の残り回数を読めません（SW={sw:04X}）")

    def verify_pin(self, pin: str) -> None:
        """Raises ``WrongPin(tries_left)`` or ``CardLocked``; returns when the PIN is verified."""
        if not valid_pin(pin):
            # Not sent to the card: a malformed PIN must not cost one of the three tries.
            raise PinInvalid(f"暗証番号は {PIN_MIN}〜{PIN_MAX} 桁の数字です")
        data, sw = self._send(_apdu(0x00, 0x20, 0x00, 0x80, pin.encode("ascii")))
        if sw == SW.OK:
            return
        if sw == SW.PIN_BLOCKED:
            raise CardLocked()
        if sw & 0xFFF0 == 0x63C0:
            raise WrongPin(sw & 0x0F)
        if sw == SW.CONDITIONS_NOT_SATISFIED:
            raise CardNotIssued("このカードは発行が済んでいません")
        raise CardProtocolError(f"暗証番号の照合でエラー（SW={sw:04X}）")

    def get_data(self, tag: Tag) -> bytes | None:
        data, sw = self._send(_apdu(0x00, 0xCA, int(tag) >> 8, int(tag) & 0xFF, le=0x00))
        if sw == SW.OK:
            return data
        if sw == SW.DATA_NOT_FOUND:
            return None
        raise CardProtocolError(f"カードのデータを読めません（{tag.name}, SW={sw:04X}）")

    def read_enrollment_data(self) -> EnrollmentData:
        """Read everything a terminal needs; ``CardNotIssued`` for a blank or half-written card."""
        values = {t: self.get_data(t) for t in Tag}
        lc = values[Tag.LIFECYCLE]
        lifecycle = Lifecycle(lc[0]) if lc and lc[0] in Lifecycle._value2member_map_ else None
        if lifecycle is not Lifecycle.ISSUED or any(v is None for v in values.values()):
            raise CardNotIssued("このカードは選挙管理委員会での発行が済んでいません（未発行のカード）")

        def text(t: Tag) -> str:
            v = values[t]
            assert v is not None
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                raise CardProtocolError(f"カードのデータが読めません（{t.name}）") from None

        fp, serial, pub, uses = (values[Tag.HQ_CA_FINGERPRINT], values[Tag.SERIAL],
                                 values[Tag.PUBLIC_KEY], values[Tag.USE_COUNTER])
        assert fp is not None and serial is not None and pub is not None and uses is not None
        return EnrollmentData(serial, lifecycle, text(Tag.ELECTION_ID), text(Tag.HQ_ADDRESS), fp,
                              text(Tag.TERMINAL_ID), text(Tag.STATION_ID), pub, uses[0])

    def check_usable(self, election_id: str) -> EnrollmentData:
        """Read the card and refuse one of another election or already used (before the PIN)."""
        d = self.read_enrollment_data()
        if d.election_id != election_id:
            raise CardOfOtherElection(
                f"別の選挙のカードです（カード: {d.election_id}、この端末: {election_id}）",
                card_election=d.election_id, expected=election_id)
        if d.used:
            raise CardAlreadyUsed(f"このカードは使用済みです（端末 {d.terminal_id} の登録に使われました）",
                                  terminal=d.terminal_id)
        return d

    def internal_authenticate(self, challenge: bytes) -> bytes:
        """The card's Ed25519 signature over ``applet.auth_message(serial, challenge)``."""
        data, sw = self._send(_apdu(0x00, 0x88, 0x00, 0x00, challenge, 0x00))
        if sw == SW.OK and len(data) == 64:
            return data
        _raise_if_pin_missing(sw)
        if sw == SW.CONDITIONS_NOT_SATISFIED:
            raise CardAlreadyUsed("このカードは使用済みか、発行が済んでいません")
        raise CardProtocolError(f"カードの認証（INTERNAL AUTHENTICATE）に失敗しました（SW={sw:04X}）")

    def derive_atrest_key(self, challenge: bytes) -> bytes:
        """The card's answer for the terminal's at-rest key (DERIVE AT-REST KEY; PIN first).
        32 bytes; the same card and challenge always give the same answer."""
        data, sw = self._send(_apdu(0x80, 0xE6, 0x00, 0x00, challenge, 0x00))
        if sw == SW.OK and len(data) == 32:
            return data
        _raise_if_pin_missing(sw)
        if sw == SW.CONDITIONS_NOT_SATISFIED:
            raise CardNotIssued("このカードは発行が済んでいません")
        raise CardProtocolError(f"カードの鍵導出（DERIVE AT-REST KEY）に失敗しました（SW={sw:04X}）")

    def mark_used(self) -> int:
        """Count one use after HQ accepted the enrollment; returns the new use counter."""
        data, sw = self._send(_apdu(0x80, 0xE2, 0x00, 0x00, le=0x00))
        if sw == SW.OK and len(data) == 1:
            return data[0]
        if sw == SW.SECURITY_NOT_SATISFIED:
            raise CardError("暗証番号の照合が済んでいません", code="pin_not_verified")
        if sw == SW.PIN_BLOCKED:
            raise CardLocked()
        if sw == SW.CONDITIONS_NOT_SATISFIED:
            raise CardAlreadyUsed("このカードは使用済みです")
        raise CardProtocolError(f"使用済みの記録に失敗しました（SW={sw:04X}）")

    def personalise(self, p: Personalisation, pin: str) -> bytes:
        """Write a blank card at HQ and lock it; returns the public key generated on the card.

        ``CardNotBlank`` if the card is already issued. A card pulled out half-way stays in
        personalisation and can simply be written again."""
        if not valid_pin(pin):
            raise PinInvalid(f"暗証番号は {PIN_MIN}〜{PIN_MAX} 桁の数字です")
        info = self.select()
        if info.lifecycle is not Lifecycle.PERSONALISING:
            raise CardNotBlank(f"このカードは発行済みです（シリアル {info.serial.hex().upper()}）。"
                               "新しいカードを使ってください", serial=info.serial.hex().upper())
        fields = [(Tag.ELECTION_ID, p.election_id.encode("utf-8")),
                  (Tag.HQ_ADDRESS, p.hq_address.encode("utf-8")),
                  (Tag.HQ_CA_FINGERPRINT, p.hq_ca_fingerprint),
                  (Tag.TERMINAL_ID, p.terminal_id.encode("utf-8")),
                  (Tag.STATION_ID, p.station_id.encode("utf-8"))]
        for tag, value in fields:
            self._ok(_apdu(0x00, 0xDA, int(tag) >> 8, int(tag) & 0xFF, value), f"データ書き込み（{tag.name}）")
        self._ok(_apdu(0x00, 0x24, 0x01, 0x80, pin.encode("ascii")), "暗証番号の設定")
        pub = self._ok(_apdu(0x00, 0x47, 0x80, 0x00, le=0x00), "鍵の生成")
        if len(pub) != 32:
            raise CardProtocolError("カードの公開鍵の長さが正しくありません")
        self._ok(_apdu(0x80, 0xE4, 0x00, 0x00), "発行の確定（FINALISE）")
        return pub
