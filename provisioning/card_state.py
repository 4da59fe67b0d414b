"""The virtual card's memory (its EEPROM) as a JSON file, written atomically.

Owns: (de)serialisation of ``applet.CardState`` and the file it lives in. A write is a temp file,
fsync and rename, so that a card "pulled" or a process killed mid-write leaves the previous
state or the new one, never half of each. Never imports readers, sockets or HQ records.
The file holds the card's private key seed: it is the card, so it is written with mode 0600.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from appliance.dirs import write_private
from ground.errors import MeiboError
from provisioning.applet import PIN_TRIES, CardState, Lifecycle, RandomSource, blank_card

FORMAT = "meibo-card-state/1"


class CardStateInvalid(MeiboError):
    code = "card_state_invalid"


def to_json(state: CardState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "serial": state.serial.hex(),
        "lifecycle": state.lifecycle.name.lower(),
        "data": {f"{tag:04X}": value.hex() for tag, value in state.data},
        "pin_hash": state.pin_hash.hex() if state.pin_hash is not None else None,
        "pin_tries": state.pin_tries,
        "key_seed": state.key_seed.hex() if state.key_seed is not None else None,
        "use_counter": state.use_counter,
    }


def from_json(d: Any, where: str = "card state") -> CardState:
    try:
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r}")
        data = tuple(sorted((int(k, 16), bytes.fromhex(v)) for k, v in d["data"].items()))
        tries = int(d["pin_tries"])
        uses = int(d["use_counter"])
        if not 0 <= tries <= PIN_TRIES or not 0 <= uses <= 255:
            raise ValueError("counter out of range")
        return CardState(
            serial=bytes.fromhex(d["serial"]),
            lifecycle=Lifecycle[d["lifecycle"].upper()],
            data=data,
            pin_hash=bytes.fromhex(d["pin_hash"]) if d["pin_hash"] is not None else None,
            pin_tries=tries,
            key_seed=bytes.fromhex(d["key_seed"]) if d["key_seed"] is not None else None,
            use_counter=uses,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise CardStateInvalid(f"カードの状態ファイルが壊れています: {where} ({e})",
                               code="card_state_invalid") from None


def save(path: Path, state: CardState) -> None:
    write_private(path, json.dumps(to_json(state), indent=1, sort_keys=True).encode("utf-8"))


def load(path: Path) -> CardState:
    try:
        raw = path.read_text("utf-8")
    except OSError as e:
        raise CardStateInvalid(f"カードの状態ファイルを読めません: {path} ({e.strerror})",
                               code="card_state_unreadable") from None
    try:
        d = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CardStateInvalid(f"カードの状態ファイルが壊れています: {path} ({e.msg}, {e.lineno}行目)") from None
    return from_json(d, str(path))


def load_or_create(path: Path, random: RandomSource) -> CardState:
    """The card in ``path``, or a new blank card written there first (a fresh card from the box)."""
    if path.exists():
        return load(path)
    state = blank_card(random)
    save(path, state)
    return state
