"""The virtual card's memory file: round trip, 0600, atomic, and a clear error when corrupt."""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import pytest

from provisioning import card_state
from provisioning.card_client import Personalisation
from provisioning.card_state import CardStateInvalid
from tests.pcsc_fixtures import issued_state


def test_issued_card_round_trips(tmp_path: Path) -> None:
    state, _ = issued_state(Personalisation("e1", "h:1", bytes(32), "T01", "S01"), "1234")
    p = tmp_path / "card.json"
    card_state.save(p, state)
    assert card_state.load(p) == state
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert [x.name for x in tmp_path.iterdir()] == ["card.json"]  # no temp file left behind


def test_load_or_create_makes_a_blank_card_once(tmp_path: Path) -> None:
    p = tmp_path / "card.json"
    a = card_state.load_or_create(p, random.Random(1).randbytes)
    b = card_state.load_or_create(p, random.Random(2).randbytes)
    assert a == b and len(a.serial) == 8


@pytest.mark.parametrize("text", ["{", "[]", '{"format": "other"}',
                                  '{"format": "meibo-card-state/1", "serial": "zz"}'])
def test_corrupt_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "card.json"
    p.write_text(text)
    with pytest.raises(CardStateInvalid) as e:
        card_state.load(p)
    assert "カードの状態ファイル" in e.value.message and str(p) in e.value.message


def test_out_of_range_counter_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "card.json"
    card_state.save(p, card_state.load_or_create(tmp_path / "x.json", random.Random(1).randbytes))
    d = json.loads(p.read_text())
    d["pin_tries"] = 9
    p.write_text(json.dumps(d))
    with pytest.raises(CardStateInvalid):
        card_state.load(p)
