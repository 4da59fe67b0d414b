"""Batch signatures: the terminal's Ed25519 device key over its hash-chain head (PyNaCl).

The signed message names the protocol, the election, the terminal, the batch's range, the
chain hash before it and the chain head after it. Because each event's hash covers the one before, one signature authenticates every
event of the batch and its place in the chain; naming the election means a valid batch replayed
into another election's HQ is refused. Every failure is the same ``BatchRejected``: it says
nothing about why.
"""

from __future__ import annotations

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey, VerifyKey

from ground.events import canonical_json
from ground.model import TerminalId
from sync_protocol.errors import BatchRejected


def batch_message(election: str, terminal: TerminalId, first_seq: int, last_seq: int, prev: bytes,
                  head: bytes) -> bytes:
    return canonical_json(["meibo-batch/1", election, terminal, first_seq, last_seq, prev.hex(), head.hex()])


def sign_batch(key: SigningKey, election: str, terminal: TerminalId, first_seq: int, last_seq: int,
               prev: bytes, head: bytes) -> bytes:
    return key.sign(batch_message(election, terminal, first_seq, last_seq, prev, head)).signature


def verify_batch(public_key: bytes, signature: bytes, election: str, terminal: TerminalId, first_seq: int,
                 last_seq: int, prev: bytes, head: bytes) -> None:
    try:
        VerifyKey(public_key).verify(batch_message(election, terminal, first_seq, last_seq, prev, head), signature)
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        raise BatchRejected("署名を確認できません", code="batch_signature_invalid")
