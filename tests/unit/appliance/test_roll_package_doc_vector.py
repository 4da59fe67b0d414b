"""docs/roll-package.md's test vector verifies and decodes to what the document says."""

import re
from pathlib import Path

import pytest

from ground.errors import RollSignatureInvalid
from appliance.rollpkg import decode_package, decode_voter, public_key_of

DOC = Path(__file__).resolve().parents[3] / "docs" / "roll-package.md"


def _vector() -> bytes:
    text = DOC.read_text("utf-8")
    block = re.search(r"```hex\n(.*?)```", text, re.S)
    assert block is not None
    return bytes.fromhex("".join(block.group(1).split()))


def test_doc_vector_decodes() -> None:
    data = _vector()
    pub = public_key_of(bytes(range(32)))
    assert pub.hex() in DOC.read_text("utf-8")
    manifest, ops = decode_package(data, pub)
    assert manifest.election_id == "yokohama-2027" and manifest.row_count == 2 and manifest.kind == "full"
    v = decode_voter(ops[1][1])
    assert v.name == "鈴木 花子" and v.moved_within_prefecture is True and v.birth_date.isoformat() == "1989-01-08"


def test_doc_vector_with_flipped_byte_refused() -> None:
    data = bytearray(_vector())
    data[20] ^= 1
    with pytest.raises(RollSignatureInvalid):
        decode_package(bytes(data), public_key_of(bytes(range(32))))
