"""The signed roll package (署名付き名簿パッケージ): encode at HQ, verify and decode anywhere.

Owns the file format (docs/roll-package.md) and the two crypto verbs ``sign_header`` /
``verify_header`` (Ed25519, PyNaCl). Pure: bytes in, values out, no store and no files; installing
into the terminal's store is ``appliance/rollinstall.py``.

Rules, in the order ``rollinstall.install_package`` applies them:
1. size, magic, header shape, Ed25519 signature over the header, SHA-256 and length of the body:
   any failure is ``RollSignatureInvalid`` and says nothing about which check failed
   (STYLE rule 5); this happens BEFORE the store is opened for writing;
2. election, version (no rollback, no re-install), delta base: ``RollRejected`` with its code;
3. rows are decompressed in bounded chunks (decompression-bomb limit) and written in ONE
   transaction; a malformed row or a row count that disagrees with the manifest rolls the whole
   install back: the store is exactly as before.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import nacl.exceptions
import nacl.signing

from ground.birthdate import parse_canonical
from ground.errors import RollRejected, RollSignatureInvalid
from ground.events import canonical_json
from ground.model import DisplayReason, Sex, Status, Voter, VoterId

MAGIC = b"MEIBOROL"
FORMAT_VERSION = 1
FORMAT_NAME = "meibo-roll/1"
_HEADER_FIXED = struct.Struct(">8sHI")  # magic, format version, manifest length
SIG_LEN = 64
FIELDS = ("voter_id", "district", "name", "name_kana", "birth_date", "sex", "address", "status",
          "display_reason", "moved_on", "moved_within_pref")
# Other rolls share this file layout, key and verify path but carry their own ``format`` in the
# signed manifest (appliance/zaigaipkg.py: the 在外選挙人名簿, "meibo-zaigai/1"). A reader asks for
# exactly one format, so a package of one kind can never be installed as the other.
KIND_NAMES = {FORMAT_NAME: "選挙人名簿", "meibo-zaigai/1": "在外選挙人名簿"}
Kind = Literal["full", "delta"]
Op = Literal["+", "-"]

SIGNATURE_MESSAGE = ("名簿パッケージの署名または内容を確認できません。ファイルが壊れているか、"
                     "改ざんされているか、この選挙の本部が署名したものではありません。名簿は入れ替えていません。")


@dataclass(frozen=True)
class Limits:
    max_package_bytes: int = 1 << 30  # 1 GiB on disk
    max_manifest_bytes: int = 64 << 10
    max_body_raw_bytes: int = 4 << 30  # decompression-bomb limit, whatever the manifest claims
    max_line_bytes: int = 4096
    chunk: int = 1 << 20


@dataclass(frozen=True)
class Manifest:
    election_id: str
    version: int
    base_version: int | None
    kind: Kind
    row_count: int
    body_sha256: str
    body_bytes: int
    body_raw_bytes: int
    created: str  # ISO 8601, Japan time
    format: str = FORMAT_NAME
    fields: tuple[str, ...] = FIELDS
    # Roll-specific signed facts (the 在外 package's designated stations); None for the main roll,
    # whose manifest then has no such key (format 1 bytes unchanged).
    extra: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        d = {"format": self.format, "election_id": self.election_id, "version": self.version,
             "base_version": self.base_version, "kind": self.kind, "row_count": self.row_count,
             "body_sha256": self.body_sha256, "body_bytes": self.body_bytes,
             "body_raw_bytes": self.body_raw_bytes, "created": self.created, "fields": list(self.fields)}
        if self.extra is not None:
            d["extra"] = self.extra
        return d

    def encode(self) -> bytes:
        return canonical_json(self.as_json())


# ---- crypto: the only two verbs ------------------------------------------------------------

def sign_header(header: bytes, seed: bytes) -> bytes:
    return nacl.signing.SigningKey(seed).sign(header).signature


def verify_header(header: bytes, signature: bytes, public_key: bytes) -> None:
    try:
        nacl.signing.VerifyKey(public_key).verify(header, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError, ValueError):
        raise RollSignatureInvalid(SIGNATURE_MESSAGE) from None


def public_key_of(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


# ---- canonical rows -------------------------------------------------------------------------

def encode_voter(v: Voter) -> str:
    """One canonical TSV line (no newline) of the package columns ``FIELDS``."""
    fields = (v.voter_id, str(v.district), v.name, v.name_kana, v.birth_date.canonical(), v.sex.value,
              v.address, v.status.value, v.display_reason.value if v.display_reason else "",
              v.moved_on.isoformat() if v.moved_on else "",
              "" if v.moved_within_prefecture is None else ("1" if v.moved_within_prefecture else "0"))
    for f in fields:
        if "\t" in f or "\n" in f or "\r" in f:
            raise ValueError(f"tab or newline in a roll field of {v.voter_id}")
    return "\t".join(fields)


VOTER_ID = re.compile(r"^[0-9]{1,20}$")
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_KANA = r"[\u30a1-\u30fa\u30fc-\u30fe\u30fbA-Z0-9]+(?: [\u30a1-\u30fa\u30fc-\u30fe\u30fbA-Z0-9]+)*"
_TEXT = r"[^\x00-\x1f\x7f]+"
# One canonical row (without its op), validated in one C-level match; the tail admits exactly the
# status combinations of the model: 登録/抹消 with nothing, 表示 失権 with nothing, 表示 転出 with
# its date and 県内(1)/県外(0).
_ROW = re.compile(
    rf"([0-9]{{1,20}})\t(0|[1-9][0-9]{{0,3}})\t({_TEXT})\t({_KANA})\t({_DATE})\t([MF])\t({_TEXT})\t"
    rf"(?:(registered|deleted)\t\t\t|displayed\t(?:(lost_rights)\t\t|moved\t({_DATE})\t([01])))\Z")


# A whole decompressed chunk of a full roll ("+\t" and a row, lines joined by "\n"), checked in one
# C-level match: the same row as ``_ROW`` (groups made non-capturing), possessive so that the
# match keeps no backtracking state per row. ``rollinstall`` uses it to check a chunk's shape
# without a Python call per voter, and falls back to ``row_tuple`` line by line to name the row
# when it fails.
_ROW_SHAPE = (rf"[0-9]{{1,20}}\t(?:0|[1-9][0-9]{{0,3}})\t{_TEXT}\t{_KANA}\t{_DATE}\t[MF]\t{_TEXT}\t"
              rf"(?:(?:registered|deleted)\t\t\t|displayed\t(?:lost_rights\t\t|moved\t{_DATE}\t[01]))")
FULL_CHUNK = re.compile(rf"(?:\+\t{_ROW_SHAPE}\n)*+\+\t{_ROW_SHAPE}")


class BadRow(Exception):
    pass


def check_birth(birth: str) -> None:
    """``ValueError`` unless ``birth`` (already of the shape NNNN-NN-NN) is a real day or a valid
    生年月日 不詳 form: the calendar half of ``row_tuple``'s check."""
    if "-00" in birth or birth[:4] == "0000":  # 生年月日 不詳: 00 for each unknown part
        parse_canonical(birth)  # ValueError for 0000-03-00, 1945-00-12, 1945-13-00 …
    else:
        date.fromisoformat(birth)  # a real calendar day (ValueError otherwise)


def row_tuple(text: str) -> tuple[Any, ...]:
    """Validate one canonical row (without its op) and return the store's ``voters`` row.

    Runs once per voter on install (3.2 million times), hence one regex instead of field checks.
    """
    m = _ROW.match(text)
    if m is None:
        raise BadRow("形式")
    vid, district, name, kana, birth, sex, address, plain, lost, moved_on, within = m.groups()
    check_birth(birth)
    if moved_on is not None:
        date.fromisoformat(moved_on)
        status, reason = "displayed", "moved"
    elif lost is not None:
        status, reason = "displayed", "lost_rights"
    else:
        status, reason = plain, None
    # A valid display form is already NFKC katakana, so its search key is the form without spaces
    # (tests/property checks kana_key(k) == k.replace(" ", "") for every valid k).
    return (vid, int(district), name, kana, kana.replace(" ", ""), birth, sex, address, status, reason,
            moved_on, None if within is None else int(within))


def decode_voter(line: str) -> Voter:
    """The inverse of ``encode_voter`` (for tests and HQ tooling); raises ``ValueError``."""
    try:
        t = row_tuple(line)
    except (BadRow, ValueError) as e:
        raise ValueError(f"bad roll row: {e}") from None
    vid, district, name, kana, _key, birth, sex, address, status, reason, moved_on, within = t
    return Voter(VoterId(vid), district, name, kana, parse_canonical(birth), Sex(sex), address, Status(status),
                 DisplayReason(reason) if reason else None, date.fromisoformat(moved_on) if moved_on else None,
                 None if within is None else bool(within))


# ---- building ------------------------------------------------------------------------------

def encode_body(ops: Iterable[tuple[Op, str]], level: int = 6) -> tuple[bytes, int, int]:
    """Compress op lines (``+`` canonical row, ``-`` voter id). Returns (zlib bytes, raw length, rows)."""
    comp = zlib.compressobj(level)
    out: list[bytes] = []
    raw = 0
    rows = 0
    batch: list[str] = []
    for op, payload in ops:
        batch.append(f"{op}\t{payload}\n")
        rows += 1
        if len(batch) >= 10000:
            b = "".join(batch).encode("utf-8")
            raw += len(b)
            out.append(comp.compress(b))
            batch = []
    if batch:
        b = "".join(batch).encode("utf-8")
        raw += len(b)
        out.append(comp.compress(b))
    out.append(comp.flush())
    return b"".join(out), raw, rows


def build_package(*, election_id: str, version: int, base_version: int | None, kind: Kind,
                  ops: Iterable[tuple[Op, str]], created: str, seed: bytes, format: str = FORMAT_NAME,
                  fields: tuple[str, ...] = FIELDS, extra: dict[str, Any] | None = None) -> tuple[bytes, Manifest]:
    """The whole package file. ``ops`` must be in strictly increasing voter-id order.
    ``format``/``fields``/``extra``: another roll in this layout (see ``KIND_NAMES``)."""
    if (kind == "full") != (base_version is None):
        raise ValueError("a full roll has no base version; a delta has one")
    if (format == FORMAT_NAME) != (extra is None and fields == FIELDS):
        raise ValueError("only another format has other fields or extra facts")
    body, raw_len, rows = encode_body(ops)
    manifest = Manifest(election_id, version, base_version, kind, rows, hashlib.sha256(body).hexdigest(),
                        len(body), raw_len, created, format, tuple(fields), extra)
    mbytes = manifest.encode()
    header = _HEADER_FIXED.pack(MAGIC, FORMAT_VERSION, len(mbytes)) + mbytes
    return header + sign_header(header, seed) + body, manifest


# ---- verifying -----------------------------------------------------------------------------

def open_package(data: bytes, public_key: bytes, limits: Limits = Limits(), *, format: str = FORMAT_NAME,
                 fields: tuple[str, ...] = FIELDS) -> tuple[Manifest, memoryview]:
    """Verify a package completely (signature, body digest and length) and return its parts.

    Every failure is the same ``RollSignatureInvalid``: a flipped byte anywhere is caught here.
    The one exception: a package HQ did sign but of another known ``format`` (the 在外選挙人名簿
    given as the main roll, or the reverse) is ``RollRejected`` ``package_wrong_kind``, which names
    both kinds; it is refused all the same.
    """
    try:
        if len(data) > limits.max_package_bytes or len(data) < _HEADER_FIXED.size + SIG_LEN:
            raise ValueError
        magic, fmt, mlen = _HEADER_FIXED.unpack_from(data, 0)
        if magic != MAGIC or fmt != FORMAT_VERSION or mlen > limits.max_manifest_bytes:
            raise ValueError
        hlen = _HEADER_FIXED.size + mlen
        if len(data) < hlen + SIG_LEN:
            raise ValueError
        header = data[:hlen]
        signature = data[hlen:hlen + SIG_LEN]
    except (ValueError, struct.error):
        raise RollSignatureInvalid(SIGNATURE_MESSAGE) from None
    verify_header(header, signature, public_key)
    # From here on the manifest is HQ's own words; still check its shape before trusting it.
    try:
        mraw = header[_HEADER_FIXED.size:]
        d = json.loads(mraw.decode("utf-8"))
        other = d.get("format") if isinstance(d, dict) else None
        if other != format and other in KIND_NAMES and format in KIND_NAMES:
            raise RollRejected(f"これは{KIND_NAMES[other]}のパッケージです（{KIND_NAMES[format]}ではありません）。"
                               "導入していません。", code="package_wrong_kind", package_format=other, expected=format)
        manifest = _manifest_from(d, format, fields)
        if manifest.encode() != mraw:
            raise ValueError("manifest not canonical")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise RollSignatureInvalid(SIGNATURE_MESSAGE) from None
    body = memoryview(data)[hlen + SIG_LEN:]
    if len(body) != manifest.body_bytes or hashlib.sha256(body).hexdigest() != manifest.body_sha256:
        raise RollSignatureInvalid(SIGNATURE_MESSAGE)
    return manifest, body


_MANIFEST_KEYS = frozenset({"format", "election_id", "version", "base_version", "kind", "row_count", "body_sha256",
                            "body_bytes", "body_raw_bytes", "created", "fields"})


def _manifest_from(d: Any, format: str = FORMAT_NAME, fields: tuple[str, ...] = FIELDS) -> Manifest:
    main = format == FORMAT_NAME
    if not isinstance(d, dict) or set(d) != (_MANIFEST_KEYS if main else _MANIFEST_KEYS | {"extra"}):
        raise ValueError("manifest keys")
    ints = ("version", "row_count", "body_bytes", "body_raw_bytes")
    if any(not isinstance(d[k], int) or isinstance(d[k], bool) or d[k] < 0 for k in ints):
        raise ValueError("manifest ints")
    if d["format"] != format or d["kind"] not in ("full", "delta") or not isinstance(d["fields"], list) \
            or tuple(d["fields"]) != fields:
        raise ValueError("manifest format")
    extra = None if main else d["extra"]
    if extra is not None and not isinstance(extra, dict):
        raise ValueError("manifest extra")
    base = d["base_version"]
    if (d["kind"] == "full") != (base is None) or (base is not None and (not isinstance(base, int) or base < 1)):
        raise ValueError("manifest base")
    if not isinstance(d["election_id"], str) or not isinstance(d["created"], str) \
            or not isinstance(d["body_sha256"], str):
        raise ValueError("manifest strings")
    return Manifest(d["election_id"], d["version"], base, d["kind"], d["row_count"], d["body_sha256"],
                    d["body_bytes"], d["body_raw_bytes"], d["created"], format, fields, extra)


def body_invalid(detail: str) -> RollRejected:
    return RollRejected(f"署名は正しいものの、名簿パッケージの中身が規格に合いません（{detail}）。名簿は入れ替えていません。"
                        "本部に連絡してください。", code="roll_body_invalid", detail=detail)


def iter_lines(manifest: Manifest, body: memoryview | bytes, limits: Limits = Limits()) -> Iterator[list[str]]:
    """Decompress in bounded chunks and yield the complete lines of each chunk (op still in front).

    Raises as ``iter_text`` does."""
    for text in iter_text(manifest, body, limits):
        yield text.split("\n")


def iter_text(manifest: Manifest, body: memoryview | bytes, limits: Limits = Limits()) -> Iterator[str]:
    """Decompress in bounded chunks and yield the complete lines of each chunk as one string (lines
    joined by "\n", no final newline).

    Raises ``RollRejected`` (``roll_body_invalid``) when the stream is longer than the manifest
    says, longer than the bomb limit, not UTF-8, or has an over-long line.
    """
    if manifest.body_raw_bytes > limits.max_body_raw_bytes:
        raise body_invalid("展開後のサイズが上限を超えます")
    d = zlib.decompressobj()
    produced = 0
    rest = b""
    pos = 0
    n = len(body)
    try:
        while True:
            if d.unconsumed_tail:
                chunk = d.decompress(d.unconsumed_tail, limits.chunk * 4)
            elif pos < n:
                chunk = d.decompress(body[pos:pos + limits.chunk], limits.chunk * 4)
                pos += limits.chunk
            elif not d.eof:
                chunk = d.flush()
                if not chunk:
                    raise body_invalid("圧縮データが途中で終わっています")
            else:
                break
            produced += len(chunk)
            if produced > manifest.body_raw_bytes:
                raise body_invalid("展開後のサイズがマニフェストと違います")
            buf = rest + chunk
            cut = buf.rfind(b"\n") + 1
            rest = buf[cut:]
            if len(rest) > limits.max_line_bytes:
                raise body_invalid("行が長すぎます")
            if cut:
                yield buf[:cut - 1].decode("utf-8")
            if d.eof and not d.unconsumed_tail and pos >= n:
                break
    except zlib.error:
        raise body_invalid("圧縮データが壊れています") from None
    except UnicodeDecodeError:
        raise body_invalid("UTF-8 ではない文字があります") from None
    if d.unused_data or rest or produced != manifest.body_raw_bytes:
        raise body_invalid("本体の長さがマニフェストと違います")


def decode_package(data: bytes, public_key: bytes, limits: Limits = Limits()) -> tuple[Manifest, list[tuple[Op, str]]]:
    """Verify and decode a whole package into ops (for tests and tooling; install streams instead)."""
    manifest, body = open_package(data, public_key, limits)
    ops: list[tuple[Op, str]] = []
    for lines in iter_lines(manifest, body, limits):
        for line in lines:
            if line.startswith("+\t"):
                ops.append(("+", line[2:]))
            elif line.startswith("-\t"):
                ops.append(("-", line[2:]))
            else:
                raise body_invalid("不明な操作")
    return manifest, ops


__all__ = ["MAGIC", "FIELDS", "FORMAT_NAME", "KIND_NAMES", "Limits", "Manifest", "build_package", "open_package",
           "decode_package", "iter_lines", "iter_text", "row_tuple", "check_birth", "FULL_CHUNK", "BadRow",
           "body_invalid", "encode_voter", "decode_voter", "sign_header", "verify_header", "public_key_of"]
