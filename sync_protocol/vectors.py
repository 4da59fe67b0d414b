"""Test vectors of the wire encoding (docs/protocol.md): one frame of each type, built from
fixed inputs with a fixed device key, so another implementation can check itself byte for byte.
``python -m sync_protocol.vectors`` prints them as the document shows them."""

from __future__ import annotations

from nacl.signing import SigningKey

from ground.events import Event, EventKind, chain_hash, genesis_hash
from ground.model import StationId, TerminalId
from sync_protocol.codec import Frame, FrameType, encode
from sync_protocol.session import TerminalLink

ELECTION = "vector-2027"
TERMINAL = TerminalId("T01")
KEY = SigningKey(bytes(range(32)))


def vectors() -> list[tuple[str, bytes]]:
    e1 = Event(EventKind.CHECKIN, 1, 0x0190_0000_0000_0000 >> 8, TERMINAL,
               {"station": "E01", "clerk": "c1", "voter": "0000012345", "contests": ["governor", "mayor"]})
    e2 = Event(EventKind.PROVISIONAL, 2, e1.hlc + 1, TERMINAL, {"ref": 1})
    g = genesis_hash(ELECTION, TERMINAL)
    link = TerminalLink(ELECTION, TERMINAL, StationId("E01"), KEY)
    hello = link.connect(0, g, 0, 1)
    link.state = link.state.READY
    batch = link.batch([e1, e2], g)
    assert batch is not None
    head = chain_hash(chain_hash(g, e1.encode()), e2.encode())
    ack = Frame(FrameType.ACK, {"acked_seq": 2, "ok": [[4, 9]], "v": [
        [1, "governor", "A"], [1, "mayor", "V", "E02", "T07", e1.hlc - 5, 3]]})
    flags = Frame(FrameType.FLAGS, {"cursor": 2, "mark": "00112233445566ff"}, flags=(
        (1, "0000012345", "governor", 1, "E01", "T01", 1, e1.hlc),
        (2, "0000012345", "governor", -1, "E01", "T01", 1, e1.hlc)))
    out = [
        ("event checkin", e1.encode()),
        ("event provisional", e2.encode()),
        ("HELLO", encode(hello)),
        ("WELCOME", encode(Frame(FrameType.WELCOME, {"acked_seq": 0, "acked_head": g.hex(), "roll": 1}))),
        ("BATCH", encode(batch)),
        ("BATCH (protocol 1)", encode(batch, compact=False)),
        ("ACK", encode(ack)),
        ("ACK, every contest accepted", encode(Frame(FrameType.ACK, {"acked_seq": 1234, "ok": [[1233, 1234]], "v": []}))),
        ("ACK (protocol 1)", encode(ack, compact=False)),
        ("FLAGS", encode(flags)),
        ("FLAGS (protocol 1)", encode(Frame(FrameType.FLAGS, {"cursor": 2}, flags=flags.flags), compact=False)),
        ("RESEND", encode(Frame(FrameType.RESEND, {"from": 3}))),
        ("REFUSED", encode(Frame(FrameType.REFUSED, {"code": "terminal_revoked", "message": "この端末は失効しています"}))),
        ("FLAGS_ACK", encode(Frame(FrameType.FLAGS_ACK, {"cursor": 2}))),
        ("chain head after both events", head),
    ]
    return out


def as_markdown() -> str:
    lines = []
    for name, data in vectors():
        lines.append(f"### {name}\n\n```\n{_hexdump(data)}\n```\n")
    return "\n".join(lines)


def _hexdump(data: bytes) -> str:
    return "\n".join(data[i:i + 32].hex() for i in range(0, len(data), 32))


if __name__ == "__main__":
    print(as_markdown())
