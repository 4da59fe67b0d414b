"""docs/roll-package.md's 在外 test vector verifies with the documented key, decodes to the documented
row and designated station, and is refused as a main roll."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ground.errors import RollRejected
from appliance.rollpkg import decode_package, public_key_of
from appliance.zaigaipkg import open_zaigai_package

DOC = Path(__file__).resolve().parents[3] / "docs" / "roll-package.md"


def _vector() -> bytes:
    block = re.search(r"```hex-zaigai\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert block is not None
    return bytes.fromhex("".join(block.group(1).split()))


def test_zaigai_doc_vector_decodes() -> None:
    data = _vector()
    assert len(data) == 618
    pkg = open_zaigai_package(data, public_key_of(bytes(range(32))))
    assert pkg.manifest.encode().decode("utf-8") in DOC.read_text("utf-8")
    assert pkg.designated == ("D01",) and pkg.version == 1
    (v,) = pkg.voters
    assert (v.zaigai_id, v.card_no, v.name, v.country, v.status) == ("900001", "A1234567", "鈴木 一郎", "アメリカ合衆国",
                                                                     "registered")


def test_zaigai_doc_vector_is_not_a_main_roll() -> None:
    with pytest.raises(RollRejected) as e:
        decode_package(_vector(), public_key_of(bytes(range(32))))
    assert e.value.code == "package_wrong_kind"
