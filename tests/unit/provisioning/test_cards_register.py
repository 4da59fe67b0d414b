"""HQ's card register (cards.json): issued → used / cancelled as a table; refusals change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ground.clock import FixedClock
from ground.model import StationId, TerminalId
from provisioning import cards
from provisioning.cards import CardRecord, CardRecordState, CardStateConflict, CardUnknown
from tests.builders import jst

CLOCK = FixedClock(jst(2027, 4, 10, 9, 0))


def rec(serial: str = "00112233445566AA", terminal: str = "T01") -> CardRecord:
    return CardRecord(serial, "yokohama-2027", TerminalId(terminal), StationId("E01"), "ab" * 32,
                      CLOCK.now().isoformat())


def test_issue_use_cancel(tmp_path: Path) -> None:
    cards.record_issued(tmp_path, rec())
    assert cards.active_card_for(tmp_path, "T01") == rec()
    used = cards.mark_used(tmp_path, "00112233445566aa", CLOCK)
    assert used.state is CardRecordState.USED and used.used_at == CLOCK.now().isoformat()
    assert cards.active_card_for(tmp_path, "T01") is None
    c = cards.cancel(tmp_path, "0011 2233 4455 66AA", "紛失", CLOCK)
    assert c.state is CardRecordState.CANCELLED and c.cancel_reason == "紛失"
    assert cards.load_cards(tmp_path) == [c]


@pytest.mark.parametrize("first,then", [("cancel", "use"), ("cancel", "cancel"), ("use", "use")])
def test_illegal_transition_raises_and_leaves_the_file_unchanged(tmp_path: Path, first: str, then: str) -> None:
    cards.record_issued(tmp_path, rec())
    do = {"use": lambda: cards.mark_used(tmp_path, rec().serial, CLOCK),
          "cancel": lambda: cards.cancel(tmp_path, rec().serial, "紛失", CLOCK)}
    do[first]()
    before = cards.cards_path(tmp_path).read_bytes()
    with pytest.raises(CardStateConflict):
        do[then]()
    assert cards.cards_path(tmp_path).read_bytes() == before


def test_second_live_card_for_a_terminal_and_duplicate_serial_are_refused(tmp_path: Path) -> None:
    cards.record_issued(tmp_path, rec())
    with pytest.raises(CardStateConflict) as e:
        cards.record_issued(tmp_path, rec("00112233445566BB"))
    assert e.value.code == "terminal_has_card"
    with pytest.raises(CardStateConflict) as e2:
        cards.record_issued(tmp_path, rec(terminal="T02"))
    assert e2.value.code == "card_serial_exists"
    cards.cancel(tmp_path, rec().serial, "ロック", CLOCK)
    cards.record_issued(tmp_path, rec("00112233445566BB"))  # a replacement once the old is cancelled
    assert len(cards.load_cards(tmp_path)) == 2


def test_unknown_and_malformed_serials(tmp_path: Path) -> None:
    with pytest.raises(CardUnknown):
        cards.cancel(tmp_path, "FFFFFFFFFFFFFFFF", "紛失", CLOCK)
    with pytest.raises(CardUnknown) as e:
        cards.find_card(tmp_path, "xyz")
    assert e.value.code == "bad_serial"


def test_corrupt_register_is_a_clear_error(tmp_path: Path) -> None:
    cards.cards_path(tmp_path).write_text('{"format": "meibo-cards/1", "cards": [{"serial": 1}]}')
    with pytest.raises(cards.CardsFileInvalid) as e:
        cards.load_cards(tmp_path)
    assert "カード台帳が壊れています" in e.value.message


def test_usable_card_for_the_enrollment_endpoint(tmp_path: Path) -> None:
    cards.record_issued(tmp_path, rec())
    assert cards.usable_card(tmp_path, rec().serial, "yokohama-2027") == rec()
    with pytest.raises(CardStateConflict) as e:
        cards.usable_card(tmp_path, rec().serial, "osaka-2027")
    assert e.value.code == "card_other_election"
    cards.mark_used(tmp_path, rec().serial, CLOCK)
    with pytest.raises(CardStateConflict) as e:
        cards.usable_card(tmp_path, rec().serial, "yokohama-2027")
    assert e.value.code == "card_used"
    with pytest.raises(CardUnknown):
        cards.usable_card(tmp_path, "FFFFFFFFFFFFFFFF", "yokohama-2027")
