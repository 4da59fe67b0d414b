"""The terminal's enrollment card in use: is this card the terminal's, and its at-rest key.

``check_enrolled_card`` reads, before any PIN, whether the card in a reader is this terminal's
enrollment card; ``with_enrolled_card`` also verifies the card PIN and lends the card's at-rest
key responder (``appliance/atrest.py`` ``pin+card``) while the card stays connected. Used by
``meibo terminal open|seal-card`` and by the kiosk's unlock screen. ``reader_factory`` makes the
PC/SC reader the commands speak to (tests point it at a fake).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance import atrest
from appliance.dirs import TerminalDir
from ground.errors import UsageError
from hardware.cardreader.base import CardReader, CardReaderSettings
from provisioning.applet import Tag
from provisioning.card_client import CardClient


def _pcsc_reader() -> CardReader:
    # lazy: loads pyscard; the kiosk's presenters import this module and must not (test_presenter_imports_no_kivy)
    from hardware.cardreader.pcsc import PcscCardReader

    return PcscCardReader(CardReaderSettings())


# Tests may point this at a FakeCardReader; the commands themselves always speak PC/SC.
reader_factory: Callable[[], CardReader] = _pcsc_reader


def check_enrolled_card(tdir: TerminalDir, client: Any) -> str:
    """Select the card behind ``client`` (a ``CardClient``) and check, before any PIN, that it is
    this terminal's enrollment card (``card_other_terminal`` otherwise). Returns its serial (hex)."""
    ident = tdir.identity()
    info = client.select()
    on_card = client.get_data(Tag.TERMINAL_ID)
    election = client.get_data(Tag.ELECTION_ID)
    if on_card != str(ident.terminal_id).encode() or election != ident.election_id.encode():
        raise UsageError("この端末の登録カードではありません（別の端末・選挙のカードです）", code="card_other_terminal")
    return str(info.serial.hex().upper())


def with_enrolled_card(tdir: TerminalDir, reader_name: str, card_pin: str,
                       use: Callable[[str, atrest.CardResponder], Any], *, reader: Any = None) -> Any:
    """Connect to the card in ``reader_name``, check it is this terminal's enrollment card,
    verify its PIN (the card counts wrong ones: 3 tries), and call ``use(serial, responder)``
    while the card stays connected. Reader and card errors pass through (coded, Japanese).
    ``reader``: the ``CardReader`` to use (the kiosk's); default ``reader_factory()``."""
    if reader is None:
        reader = reader_factory()
    with reader.connect(reader_name) as ch:
        client = CardClient(ch)
        serial = check_enrolled_card(tdir, client)
        client.verify_pin(card_pin)
        return use(serial, client.derive_atrest_key)
