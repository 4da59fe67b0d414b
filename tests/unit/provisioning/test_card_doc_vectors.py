"""docs/card.md's APDU test vectors, replayed byte for byte against the applet."""

from __future__ import annotations

import re
from pathlib import Path

from provisioning.applet import Applet, CardState

DOC = Path(__file__).resolve().parents[3] / "docs" / "card.md"


def _blocks() -> list[str]:
    return re.findall(r"```apdu\n(.*?)```", DOC.read_text("utf-8"), flags=re.S)


def _hex(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def test_doc_has_the_three_vector_sessions() -> None:
    assert len(_blocks()) == 3


def test_every_vector_answers_exactly_as_documented() -> None:
    applet = Applet(CardState(serial=_hex("00 11 22 33 44 55 66 77")), lambda n: b"\x42" * n)
    checked = 0
    last: bytes | None = None
    for block in _blocks():
        for line in block.strip().splitlines():
            if line == "! reset":
                applet.reset()
            elif line.startswith("> "):
                last = applet.process(_hex(line[2:]))
            elif line.startswith("< "):
                assert last is not None
                assert last.hex(" ").upper() == line[2:], f"vector {checked + 1}: {line}"
                last = None
                checked += 1
            else:
                raise AssertionError(f"unexpected line in docs/card.md: {line!r}")
    assert checked >= 45
