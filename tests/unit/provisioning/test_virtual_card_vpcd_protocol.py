"""The virtual card's side of the vpcd socket protocol, against a stand-in vpcd (no pcscd needed):
2-byte big-endian length + payload; 1-byte control messages; memory persisted before answering."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning import card_state
from provisioning.applet import AID, ATR, blank_card
from provisioning.virtual_card import VirtualCard, VirtualCardSettings

SELECT = b"\x00\xA4\x04\x00\x07" + AID + b"\x00"


class StandInVpcd:
    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(5)
        self.port = int(self.listener.getsockname()[1])
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(5)

    def send(self, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(struct.pack(">H", len(payload)) + payload)

    def recv(self) -> bytes | None:
        assert self.conn is not None
        head = self._exact(2)
        if head is None:
            return None
        return self._exact(struct.unpack(">H", head)[0])

    def _exact(self, n: int) -> bytes | None:
        assert self.conn is not None
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def vpcd() -> Iterator[StandInVpcd]:
    v = StandInVpcd()
    yield v
    v.close()


def make_card(vpcd: StandInVpcd, tmp_path: Path) -> VirtualCard:
    path = tmp_path / "card.json"
    rnd = random.Random(4).randbytes
    card_state.save(path, blank_card(rnd))
    return VirtualCard.from_file(path, rnd, port=vpcd.port, settings=VirtualCardSettings(connect_timeout_s=2))


def test_atr_control_messages_and_apdu_framing(vpcd: StandInVpcd, tmp_path: Path) -> None:
    card = make_card(vpcd, tmp_path)
    card.insert()
    vpcd.accept()
    vpcd.send(b"\x04")  # ATR request
    assert vpcd.recv() == ATR
    vpcd.send(b"\x01")  # power on: no answer
    vpcd.send(SELECT)
    resp = vpcd.recv()
    assert resp is not None and resp[-2:] == b"\x90\x00" and resp[2:10] == card.state.serial
    vpcd.send(b"\x02")  # reset: the selection is forgotten
    vpcd.send(b"\x00\xCA\x01\x10\x00")
    assert vpcd.recv() == b"\x69\x85"
    card.remove()
    assert vpcd.recv() is None  # the reader sees the connection (the card) go
    assert not card.inserted


def test_memory_is_on_disk_before_the_answer_leaves(vpcd: StandInVpcd, tmp_path: Path) -> None:
    card = make_card(vpcd, tmp_path)
    card.insert()
    vpcd.accept()
    vpcd.send(SELECT)
    vpcd.recv()
    vpcd.send(b"\x00\xDA\x01\x04\x03T01")
    assert vpcd.recv() == b"\x90\x00"
    assert card_state.load(card.state_path).get(0x0104) == b"T01"  # type: ignore[arg-type]
    card.remove()


def test_pull_on_drops_the_link_without_an_answer(vpcd: StandInVpcd, tmp_path: Path) -> None:
    card = make_card(vpcd, tmp_path)
    card.pull_on(0xDA, after_processing=True)
    card.insert()
    vpcd.accept()
    vpcd.send(SELECT)
    vpcd.recv()
    vpcd.send(b"\x00\xDA\x01\x04\x03T01")
    assert vpcd.recv() is None  # no answer: pulled
    assert card_state.load(card.state_path).get(0x0104) == b"T01"  # type: ignore[arg-type]
    card.insert()  # and back in: a new connection
    vpcd.accept()
    vpcd.send(b"\x04")
    assert vpcd.recv() == ATR
    card.remove()


def test_insert_gives_up_when_no_vpcd_listens(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    card = VirtualCard(blank_card(random.Random(1).randbytes), random.Random(1).randbytes, port=port,
                       settings=VirtualCardSettings(connect_timeout_s=0.3, connect_retry_s=0.05))
    with pytest.raises(OSError):
        card.insert()


def test_a_message_split_into_single_bytes_is_reassembled(vpcd: StandInVpcd, tmp_path: Path) -> None:
    card = make_card(vpcd, tmp_path)
    card.insert()
    vpcd.accept()
    assert vpcd.conn is not None
    vpcd.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    framed = struct.pack(">H", len(SELECT)) + SELECT
    for i in range(len(framed)):
        vpcd.conn.sendall(framed[i:i + 1])
    resp = vpcd.recv()
    assert resp is not None and resp[-2:] == b"\x90\x00"
    card.remove()
