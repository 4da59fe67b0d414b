"""The real smart-card reader driver: PC/SC through pyscard and pcscd.

Owns: the translation of PC/SC return codes into the four errors of ``base`` (STYLE rule 3); no
pyscard exception or SCARD_* code escapes this module. Uses pyscard's thin ``smartcard.scard``
layer (one call per PC/SC function) so that every return code is seen here.

Quirks handled where they occur:
- A failed SCardTransmit does not say whether the card left: after any transmit failure we ask
  the reader; an empty (or changed) slot is ``CardRemoved``, anything else ``ReaderError``.
- Right after insertion pcscd may still be powering the card: SCardConnect is retried briefly.
- pcscd restarted under us invalidates the context: it is re-established once per call.
- The client library reads ``PCSCLITE_CSOCK_NAME`` (pcscd's socket) once per process; the test
  fixtures (tests/pcsc_fixtures.py) set it before the first call.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, NoReturn

from hardware.cardreader.base import (CardAbsent, CardReaderSettings, CardRemoved, NoPcscService, NoReader,
                                      ReaderError, msg_card_absent, msg_card_removed, msg_no_reader)

try:
    from smartcard import scard as _scard
except ImportError:  # pragma: no cover - pyscard is the optional "card" dependency
    _scard = None


def _sc() -> Any:
    if _scard is None:
        raise ReaderError("pyscard がインストールされていません（pip install pyscard）", code="pyscard_missing")
    return _scard


def _text(rc: int) -> str:
    try:
        return str(_sc().SCardGetErrorMessage(rc)).strip()
    except Exception:  # pragma: no cover
        return f"0x{rc & 0xFFFFFFFF:08X}"


def _is(rc: int, *names: str) -> bool:
    sc = _sc()
    return any((rc & 0xFFFFFFFF) == (getattr(sc, n) & 0xFFFFFFFF) for n in names)


class PcscCardReader:
    """``CardReader`` over pcscd. One PC/SC context, created lazily."""

    def __init__(self, settings: CardReaderSettings | None = None) -> None:
        self.settings = settings or CardReaderSettings()
        self._ctx: Any = None

    def _context(self, fresh: bool = False) -> Any:
        sc = _sc()
        if fresh and self._ctx is not None:
            sc.SCardReleaseContext(self._ctx)
            self._ctx = None
        if self._ctx is None:
            rc, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
            if rc != sc.SCARD_S_SUCCESS:
                if _is(rc, "SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED"):
                    raise NoPcscService("PC/SC サービス（pcscd）が動いていません")
                raise ReaderError(f"PC/SC に接続できません: {_text(rc)}", code="pcsc_context")
            self._ctx = ctx
        return self._ctx

    def _retry_stale(self, fn: Any) -> Any:
        """Run ``fn(ctx)``; if pcscd was restarted (stale context), once more with a new context."""
        rc, *rest = fn(self._context())
        if _is(rc, "SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED", "SCARD_E_INVALID_HANDLE"):
            rc, *rest = fn(self._context(fresh=True))
        return (rc, *rest)

    def close(self) -> None:
        if self._ctx is not None and _scard is not None:
            _scard.SCardReleaseContext(self._ctx)
            self._ctx = None

    def readers(self) -> list[str]:
        sc = _sc()
        rc, names = self._retry_stale(lambda ctx: sc.SCardListReaders(ctx, []))
        if _is(rc, "SCARD_E_NO_READERS_AVAILABLE"):
            return []
        if _is(rc, "SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED"):
            raise NoPcscService("PC/SC サービス（pcscd）が動いていません")
        if rc != sc.SCARD_S_SUCCESS:
            raise ReaderError(f"カードリーダーの一覧を取れません: {_text(rc)}")
        return list(names)

    def _state(self, reader: str) -> int:
        sc = _sc()
        rc, states = self._retry_stale(
            lambda ctx: sc.SCardGetStatusChange(ctx, 0, [(reader, sc.SCARD_STATE_UNAWARE)]))
        if _is(rc, "SCARD_E_UNKNOWN_READER", "SCARD_E_READER_UNAVAILABLE", "SCARD_E_NO_READERS_AVAILABLE"):
            raise NoReader(msg_no_reader(reader, self.readers()), reader=reader)
        if rc != sc.SCARD_S_SUCCESS and not _is(rc, "SCARD_E_TIMEOUT"):
            raise ReaderError(f"カードリーダーの状態を取れません（{reader}）: {_text(rc)}")
        event = int(states[0][1])
        if event & (sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_IGNORE):
            raise NoReader(msg_no_reader(reader, self.readers()), reader=reader)
        return event

    def card_present(self, reader: str) -> bool:
        sc = _sc()
        ev = self._state(reader)
        return bool(ev & sc.SCARD_STATE_PRESENT) and not ev & sc.SCARD_STATE_MUTE

    def _wait(self, reader: str, timeout_s: float, want_present: bool) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.card_present(reader) == want_present:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.settings.poll_interval_s, left))

    def wait_for_card(self, reader: str, timeout_s: float) -> bool:
        return self._wait(reader, timeout_s, True)

    def wait_for_removal(self, reader: str, timeout_s: float) -> bool:
        return self._wait(reader, timeout_s, False)

    def connect(self, reader: str) -> "PcscChannel":
        sc = _sc()
        attempts = max(1, self.settings.connect_attempts)
        for i in range(attempts):
            rc, handle, proto = self._retry_stale(lambda ctx: sc.SCardConnect(
                ctx, reader, sc.SCARD_SHARE_EXCLUSIVE, sc.SCARD_PROTOCOL_T1 | sc.SCARD_PROTOCOL_T0))
            if rc == sc.SCARD_S_SUCCESS:
                ch = PcscChannel(self, reader, handle, proto)
                ch.read_atr()
                return ch
            if _is(rc, "SCARD_E_UNKNOWN_READER", "SCARD_E_READER_UNAVAILABLE"):
                raise NoReader(msg_no_reader(reader, self.readers()), reader=reader)
            absent = _is(rc, "SCARD_E_NO_SMARTCARD", "SCARD_W_REMOVED_CARD")
            busy = _is(rc, "SCARD_W_UNPOWERED_CARD", "SCARD_W_UNRESPONSIVE_CARD", "SCARD_E_SHARING_VIOLATION",
                       "SCARD_W_RESET_CARD", "SCARD_E_NOT_READY")
            if (absent or busy) and i + 1 < attempts:
                time.sleep(self.settings.connect_retry_s)
                continue
            if absent:
                raise CardAbsent(msg_card_absent(reader), reader=reader)
            if _is(rc, "SCARD_E_SHARING_VIOLATION"):
                raise ReaderError(f"カードは別のプログラムが使用中です（{reader}）", code="card_busy")
            raise ReaderError(f"カードに接続できません（{reader}）: {_text(rc)}")
        raise AssertionError("unreachable")  # pragma: no cover


class PcscChannel:
    def __init__(self, reader: PcscCardReader, name: str, handle: Any, protocol: int) -> None:
        self._reader = reader
        self._name = name
        self._handle = handle
        self._protocol = protocol
        self._atr = b""
        self._closed = False

    @property
    def atr(self) -> bytes:
        return self._atr

    def read_atr(self) -> None:
        sc = _sc()
        rc, _reader, _state, _proto, atr = sc.SCardStatus(self._handle)
        if rc == sc.SCARD_S_SUCCESS:
            self._atr = bytes(atr)

    def transmit(self, apdu: bytes) -> bytes:
        sc = _sc()
        if self._closed:
            raise CardRemoved("カードとの接続は閉じられています", code="channel_closed")
        rc, resp = sc.SCardTransmit(self._handle, self._protocol, list(apdu))
        if rc == sc.SCARD_S_SUCCESS and len(resp) >= 2:
            return bytes(resp)
        # The exchange failed. Did the card leave? vpcd answers an empty response (rc 0) when its
        # card vanished, and pcscd notices the empty slot only at its next poll (~0.4 s), so we
        # ask the reader for a short while before calling it a reader fault.
        if _is(rc, "SCARD_W_REMOVED_CARD", "SCARD_W_RESET_CARD", "SCARD_E_NO_SMARTCARD"):
            self._lost()
        deadline = time.monotonic() + self._reader.settings.removal_confirm_s
        while True:
            try:
                present = self._reader.card_present(self._name)
            except NoReader:
                self._lost()
            srv, _r, _s, _p, _a = sc.SCardStatus(self._handle)
            if not present or _is(srv, "SCARD_W_REMOVED_CARD", "SCARD_W_RESET_CARD", "SCARD_E_NO_SMARTCARD"):
                self._lost()
            if time.monotonic() >= deadline:
                break
            time.sleep(self._reader.settings.poll_interval_s)
        raise ReaderError(f"カードとの通信に失敗しました（{self._name}）: {_text(rc)}", code="transmit_failed")

    def _lost(self) -> NoReturn:
        # Release our handle at once: pcscd keeps an exclusive handle to a pulled card, which
        # would refuse the next connect after re-insertion.
        self.close()
        raise CardRemoved(msg_card_removed(self._name), reader=self._name)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            # RESET on close: the next session starts without a verified PIN. (A failure here
            # means the card or pcscd is gone: nothing left to release.)
            _sc().SCardDisconnect(self._handle, _sc().SCARD_RESET_CARD)

    def __enter__(self) -> "PcscChannel":
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
