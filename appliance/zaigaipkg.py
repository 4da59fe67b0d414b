"""The 在外選挙人名簿 (overseas voters' roll) as data: the CSV HQ imports, the canonical row, and the
signed package HQ publishes and terminals verify (format ``meibo-zaigai/1``).

Owns the CSV parser, the canonical TSV row and the package's manifest facts (``extra``: the
designated stations). The file layout, the Ed25519 signature, the body digest and the bounded
decompression are rollpkg's, unchanged: one key, one verify path (docs/roll-package.md). The
signed manifest says ``"format": "meibo-zaigai/1"``; rollpkg's reader asks for exactly one format,
so a 在外 package is never installed as the main roll, nor the main roll as a 在外 package.

Rules:
- the CSV is refused as a whole: every problem is named (file, row, column), nothing returned;
- a package is always the whole 在外 roll (``full``; it is small), rows in strictly increasing
  在外選挙人番号 order, no 在外選挙人証番号 twice;
- ``open_zaigai_package`` verifies and decodes completely before anyone opens a store.

Pure: never imports the terminal's store, the journal, the network or the CLI. Installing is
appliance/procedures.py's; HQ's roll.db tables are hq/roll.py's.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ground.errors import Problem, RollInvalid, RollRejected
from ground.events import MAX_STR
from appliance.rollpkg import Limits, Manifest, Op, build_package, iter_lines, open_package

ZAIGAI_PREFIX = "Z:"  # voter ids of 在外選挙人 in the journal and the voted table
FORMAT = "meibo-zaigai/1"
FIELDS = ("zaigai_id", "card_no", "name", "kana", "birth_date", "sex", "last_address", "country", "status")
# A 在外 roll is a few thousand to tens of thousands of rows: far tighter bounds than the main roll.
LIMITS = Limits(max_package_bytes=64 << 20, max_body_raw_bytes=256 << 20)
MAX_CSV_BYTES = 64 << 20

ZAIGAI_COLUMNS = (("zaigai_id", "在外選挙人番号"), ("card_no", "在外選挙人証番号"), ("name", "氏名"),
                  ("kana", "氏名カナ"), ("birth_date", "生年月日"), ("sex", "性別"),
                  ("last_address", "最終住所"), ("country", "居住国"), ("status", "状態"))
_STATUS = {"登録": "registered", "抹消": "deleted", "registered": "registered", "deleted": "deleted"}
_SEX = {"男": "M", "女": "F", "M": "M", "F": "F"}


@dataclass(frozen=True)
class ZaigaiVoter:
    zaigai_id: str
    card_no: str
    name: str
    kana: str
    birth_date: date
    sex: str
    last_address: str
    country: str
    status: str

    @property
    def voter_key(self) -> str:
        return ZAIGAI_PREFIX + self.zaigai_id


def digits(text: str) -> str:
    """A typed or printed number in canonical form: NFKC (全角 → 半角), no spaces or hyphens."""
    return unicodedata.normalize("NFKC", text).strip().replace("-", "").replace(" ", "")


def card_number(text: str) -> str:
    """The 在外選挙人証番号 as compared: ``digits`` and upper case (a typed ``a`` is the card's ``A``)."""
    return digits(text).upper()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ---- the CSV (HQ) ---------------------------------------------------------------------------

def parse_zaigai_csv(raw: bytes, file: str = "zaigai.csv") -> list[ZaigaiVoter]:
    """Parse the 在外選挙人名簿 CSV (UTF-8, BOM allowed; header row of the Japanese column names).
    Raises ``RollInvalid`` listing every problem with its row and column; returns nothing then."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RollInvalid(f"{file}: UTF-8 で書かれていません", code="zaigai_encoding",
                          problems=[Problem("zaigai_encoding", "UTF-8 で書かれていません", file)])
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise RollInvalid(f"{file}: CSV として読めません（{e}）", code="zaigai_invalid",
                          problems=[Problem("zaigai_invalid", f"CSV として読めません（{e}）", file)])
    problems: list[Problem] = []
    headers = [h.strip() for h in rows[0]] if rows else []
    want = [h for _, h in ZAIGAI_COLUMNS]
    missing = [h for h in want if h not in headers]
    if missing:
        raise RollInvalid(f"{file}: 見出しに {'、'.join(missing)} がありません", code="zaigai_header",
                          problems=[Problem("zaigai_header", "見出しがありません", file, 1, h) for h in missing])
    idx = {h: headers.index(h) for h in want}
    out: list[ZaigaiVoter] = []
    seen_id: set[str] = set()
    seen_card: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue

        def cell(h: str) -> str:
            i = idx[h]
            return row[i].strip() if i < len(row) else ""

        def bad(col: str, msg: str) -> None:
            problems.append(Problem("zaigai_invalid", msg, file, n, col))

        zid, card = digits(cell("在外選挙人番号")), card_number(cell("在外選挙人証番号"))
        if not zid.isascii() or not zid.isdigit() or len(zid) > 16:
            bad("在外選挙人番号", f"数字 16 桁までで書いてください: {cell('在外選挙人番号')!r}")
        elif zid in seen_id:
            bad("在外選挙人番号", f"番号が重複しています: {zid}")
        if not card.isascii() or not card.isalnum() or not 4 <= len(card) <= 20:
            bad("在外選挙人証番号", f"英数字 4〜20 文字で書いてください: {cell('在外選挙人証番号')!r}")
        elif card in seen_card:
            bad("在外選挙人証番号", f"在外選挙人証番号が重複しています: {card}")
        seen_id.add(zid)
        seen_card.add(card)
        for h in ("氏名", "氏名カナ", "最終住所", "居住国"):
            if not cell(h) or len(cell(h)) > MAX_STR:
                bad(h, f"必須です（{MAX_STR} 文字まで）")
            elif _CONTROL.search(cell(h)):
                bad(h, "改行・タブなどの制御文字は使えません")
        try:
            born: date | None = date.fromisoformat(digits(cell("生年月日")).replace("/", "-"))
        except ValueError:
            bad("生年月日", f"日付が読めません: {cell('生年月日')!r}（例: 1980-04-01）")
            born = None
        sex = _SEX.get(cell("性別"))
        if sex is None:
            bad("性別", f"男 / 女 で書いてください: {cell('性別')!r}")
        status = _STATUS.get(cell("状態") or "登録")
        if status is None:
            bad("状態", f"登録 / 抹消 で書いてください: {cell('状態')!r}")
        if born is not None and sex is not None and status is not None:
            out.append(ZaigaiVoter(zid, card, cell("氏名"), cell("氏名カナ"), born, sex, cell("最終住所"),
                                   cell("居住国"), status))
    if problems:
        lines = "\n".join(f"  {p.where()}: {p.message}" for p in problems[:50])
        raise RollInvalid(f"{file}: 在外選挙人名簿に誤りがあります（{len(problems)} 件）。取り込んでいません\n{lines}",
                          code="zaigai_invalid", problems=problems)
    return out


# ---- canonical rows -------------------------------------------------------------------------

def encode_zaigai(v: ZaigaiVoter) -> str:
    """One canonical TSV line (no newline) of ``FIELDS``."""
    fields = (v.zaigai_id, v.card_no, v.name, v.kana, v.birth_date.isoformat(), v.sex, v.last_address, v.country,
              v.status)
    for f in fields:
        if _CONTROL.search(f):
            raise ValueError(f"control character in a 在外 roll field of {v.zaigai_id}")
    return "\t".join(fields)


_TEXT = rf"[^\x00-\x1f\x7f]{{1,{MAX_STR}}}"
_ROW = re.compile(rf"([0-9]{{1,16}})\t([0-9A-Z]{{4,20}})\t({_TEXT})\t({_TEXT})\t([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})\t"
                  rf"([MF])\t({_TEXT})\t({_TEXT})\t(registered|deleted)\Z")


def decode_zaigai(line: str) -> ZaigaiVoter:
    """The inverse of ``encode_zaigai``; ``ValueError`` for anything not canonical."""
    m = _ROW.match(line)
    if m is None:
        raise ValueError("形式")
    zid, card, name, kana, born, sex, addr, country, status = m.groups()
    return ZaigaiVoter(zid, card, name, kana, date.fromisoformat(born), sex, addr, country, status)


# ---- the package ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ZaigaiPackage:
    """A verified, decoded 在外 package: what the terminal installs."""

    manifest: Manifest
    voters: tuple[ZaigaiVoter, ...]
    designated: tuple[str, ...]  # stations besides the early ones that accept 在外選挙人

    @property
    def version(self) -> int:
        return self.manifest.version


def build_zaigai_package(*, election_id: str, version: int, voters: Sequence[ZaigaiVoter],
                         designated: Sequence[str], created: str, seed: bytes) -> tuple[bytes, Manifest]:
    """Sign the whole 在外 roll as version ``version`` (rollpkg's layout, format ``meibo-zaigai/1``)."""
    ordered = sorted(voters, key=lambda v: v.zaigai_id)
    ops: list[tuple[Op, str]] = [("+", encode_zaigai(v)) for v in ordered]
    return build_package(election_id=election_id, version=version, base_version=None, kind="full", ops=ops,
                         created=created, seed=seed, format=FORMAT, fields=FIELDS,
                         extra={"designated": sorted(set(designated))})


def _body_invalid(detail: str) -> RollRejected:
    return RollRejected(f"署名は正しいものの、在外選挙人名簿パッケージの中身が規格に合いません（{detail}）。"
                        "導入していません。本部に連絡してください。", code="zaigai_body_invalid", detail=detail)


def open_zaigai_package(data: bytes, public_key: bytes, limits: Limits = LIMITS) -> ZaigaiPackage:
    """Verify (rollpkg.open_package: signature, digest, length; ``meibo-zaigai/1`` only) and decode.

    ``RollSignatureInvalid`` for any byte not as HQ signed it; ``RollRejected``
    (``package_wrong_kind``) for HQ's main roll; ``zaigai_body_invalid`` for a signed body that is
    not canonical. Touches nothing."""
    manifest, body = open_package(data, public_key, limits, format=FORMAT, fields=FIELDS)
    extra: Any = manifest.extra or {}
    designated = extra.get("designated") if isinstance(extra, dict) else None
    if manifest.kind != "full" or set(extra) != {"designated"} or not isinstance(designated, list) \
            or not all(isinstance(s, str) and s and not _CONTROL.search(s) for s in designated) \
            or designated != sorted(set(designated)):
        raise _body_invalid("マニフェストの形式")
    voters: list[ZaigaiVoter] = []
    prev = ""
    cards: set[str] = set()
    for lines in iter_lines(manifest, body, limits):
        for line in lines:
            n = len(voters) + 1
            if line[:2] != "+\t":
                raise _body_invalid(f"{n} 件目: 「+」以外の行があります")
            try:
                v = decode_zaigai(line[2:])
            except ValueError:
                raise _body_invalid(f"{n} 件目の行の形式") from None
            if v.zaigai_id <= prev:
                raise _body_invalid(f"{n} 件目: 在外選挙人番号の順序が正しくありません")
            if v.card_no in cards:
                raise _body_invalid(f"{n} 件目: 在外選挙人証番号が重複しています")
            prev = v.zaigai_id
            cards.add(v.card_no)
            voters.append(v)
    if len(voters) != manifest.row_count:
        raise _body_invalid(f"行数がマニフェストと違います（本体 {len(voters)}、マニフェスト {manifest.row_count}）")
    return ZaigaiPackage(manifest, tuple(voters), tuple(designated))


__all__ = ["ZAIGAI_PREFIX", "FORMAT", "FIELDS", "LIMITS", "ZAIGAI_COLUMNS", "ZaigaiVoter", "ZaigaiPackage",
           "digits", "card_number", "parse_zaigai_csv", "encode_zaigai", "decode_zaigai", "build_zaigai_package",
           "open_zaigai_package"]
