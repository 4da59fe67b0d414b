"""The fuzz targets: each parser fed hostile bytes, only ``MeiboError`` allowed out.

``SEEDS[name]`` gives valid inputs to mutate from (a corpus), built deterministically.
Imports the parsers; no network; a target may create one temporary file and removes it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from ground.errors import MeiboError

Target = Callable[[bytes], None]

TEST_SEED = hashlib.sha256(b"fuzz-roll-signing").digest()
_T0 = datetime(2027, 4, 20, 12, 0)


def roll_csv(data: bytes) -> None:
    from appliance.rollcsv import Limits, parse_roll

    try:
        parse_roll(data, "fuzz.csv", limits=Limits(max_file_bytes=1 << 20))
    except MeiboError:
        pass


def roll_package(data: bytes) -> None:
    """Raw bytes as a package (must fail the signature), and the same bytes *signed by HQ's key*
    as manifest+body, so the manifest and body parsers behind the signature are reached too."""
    from appliance import rollpkg
    from appliance.rollpkg import Limits, decode_package, public_key_of

    limits = Limits(max_package_bytes=1 << 20, max_body_raw_bytes=4 << 20, chunk=1 << 12)
    pub = public_key_of(TEST_SEED)
    try:
        decode_package(data, pub, limits)
    except MeiboError:
        pass
    cut = data.find(b"\n")
    mbytes, body = (data, b"") if cut < 0 else (data[:cut], data[cut + 1:])
    header = rollpkg._HEADER_FIXED.pack(rollpkg.MAGIC, rollpkg.FORMAT_VERSION, len(mbytes)) + mbytes
    signed = header + rollpkg.sign_header(header, TEST_SEED) + body
    try:
        decode_package(signed, pub, limits)
    except MeiboError:
        pass


def frame(data: bytes) -> None:
    from sync_protocol.codec import decode

    try:
        decode(data)
    except MeiboError:
        pass


def journal_file(data: bytes) -> None:
    from sync_protocol.journal_file import read_journal_file

    fd, name = tempfile.mkstemp(prefix="meibo-fuzz-", suffix=".mbj")
    try:
        os.write(fd, data)
        os.close(fd)
        try:
            _, frames = read_journal_file(Path(name))
            for _ in frames:
                pass
        except MeiboError:
            pass
    finally:
        os.unlink(name)


class _ScriptedCard:
    """A card channel answering every APDU with the next slice of the fuzz input."""

    def __init__(self, data: bytes) -> None:
        self.parts = [p for p in data.split(b"\xff\xfe")] or [b""]
        self.i = 0

    @property
    def atr(self) -> bytes:
        return b"\x3b\x80\x80\x01\x01"

    def transmit(self, apdu: bytes) -> bytes:
        part = self.parts[self.i % len(self.parts)]
        self.i += 1
        return part

    def close(self) -> None:
        pass


def apdu(data: bytes) -> None:
    from provisioning.card_client import CardClient

    client = CardClient(_ScriptedCard(data))  # type: ignore[arg-type]
    for verb in (client.select, client.pin_tries_left, lambda: client.verify_pin("1234"),
                 client.read_enrollment_data, lambda: client.check_usable("yokohama-2027"),
                 lambda: client.internal_authenticate(b"\x01" * 32), client.mark_used):
        try:
            verb()
        except MeiboError:
            pass


def at(data: bytes) -> None:
    """The AT parser never raises: every byte becomes an event (or part of one)."""
    from hardware.modem.parser import AtParser

    p = AtParser(max_line_bytes=256)
    p.send("AT+CEREG?")
    step = 1 + (data[0] % 7 if data else 0)
    for i in range(0, len(data), step):
        p.feed(data[i:i + step])
        if p.pending is None:
            p.send("AT+CSQ")
    p.feed(b"\r\nOK\r\n")


def barcode(data: bytes) -> None:
    from ground.barcode import parse_barcode
    from ground.model import BarcodeFormat
    from hardware.scanner.parser import ScanDecoder
    from hardware.settings import ScannerSettings

    fmt = BarcodeFormat()
    try:
        parse_barcode(data.decode("utf-8", errors="replace"), fmt)
    except MeiboError:
        pass
    dec = ScanDecoder(fmt, ScannerSettings())
    for i in range(0, len(data), 5):
        dec.feed(data[i:i + 5], _T0 + timedelta(seconds=i))


def election_toml(data: bytes) -> None:
    from ground.config import parse_config

    try:
        parse_config(data, "fuzz.toml")
    except MeiboError:
        pass


TARGETS: dict[str, Target] = {
    "roll_csv": roll_csv, "roll_package": roll_package, "frame": frame, "journal_file": journal_file,
    "apdu": apdu, "at": at, "barcode": barcode, "election_toml": election_toml,
}


def seeds(name: str) -> list[bytes]:
    """Valid inputs of each format, to mutate from."""
    if name == "roll_csv":
        return ["選挙人番号,投票区,氏名,氏名カナ,生年月日,性別,住所\n100001,1,山田 太郎,ヤマダ タロウ,1990-01-02,男,横浜市中区1\n"
                .encode("utf-8")]
    if name == "roll_package":
        from appliance.rollpkg import build_package, encode_voter
        from tests.builders import voter

        pkg, m = build_package(election_id="e", version=1, base_version=None, kind="full",
                               ops=[("+", encode_voter(voter("100001")))], created="2027-04-01T00:00:00+09:00",
                               seed=TEST_SEED)
        return [pkg, m.encode() + b"\n" + pkg[-(m.body_bytes):]]
    if name == "frame":
        from ground.events import Event, EventKind
        from sync_protocol.codec import Frame, FrameType, encode

        hlc = 1 << 56
        return [encode(Frame(FrameType.HELLO, {"v": 2, "terminal": "T01", "head": 3})),
                encode(Frame(FrameType.FLAGS, {"cursor": 2}, flags=(("1", "shu", 1),)), compact=False),
                # protocol 2's compact forms (codec.BATCH_COMPACT, FLAGS_COMPACT)
                encode(Frame(FrameType.FLAGS, {"cursor": 3, "mark": "00ff"}, flags=(
                    (2, "0000012345", "shu", 1, "E01", "T01", 7, hlc), (3, "x", "shu", -1, "E01", "T02", 8, hlc - 9)))),
                encode(Frame(FrameType.BATCH, {"first": 1, "last": 1, "prev": "00" * 32, "sig": "11" * 64})),
                encode(Frame(FrameType.BATCH, {"first": 1, "last": 40, "prev": "00" * 32, "sig": "11" * 64}, tuple(
                    Event(EventKind.PROVISIONAL, s, hlc + s, "T01", {"ref": s}) for s in range(1, 41))))]
    if name == "journal_file":
        from sync_protocol.journal_file import MAGIC

        return [MAGIC + b'{"election":"e","terminal":"T01"}\n' + b"\x00\x00\x00\x02\x01\x00"]
    if name == "apdu":
        return [b"\x90\x00", b"\x63\xc2", b"\x01\x02\x90\x00\xff\xfe\x6a\x82"]
    if name == "at":
        return [b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n", b"\r\n+CME ERROR: 10\r\n"]
    if name == "barcode":
        return [b"1000018\r", b"\x00\r\r\n" + b"9" * 200 + b"\r"]
    if name == "election_toml":
        from tests.builders import election_toml as toml

        return [toml().encode("utf-8")]
    raise KeyError(name)
