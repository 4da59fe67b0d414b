"""The municipality's roll export (選挙人名簿 CSV) → ``Voter`` rows, with every problem listed.

Pure parsing over a binary stream; the only I/O is ``read_roll_file`` opening the file it is
given. Never import the store, the CLI, crypto or the network.

Rules (issue 2, "Roll import"):
- header row with Japanese names or English aliases (``COLUMNS``); unknown columns are ignored,
  a missing required column or a column given twice is an error;
- UTF-8 with or without BOM, else CP932 (Shift_JIS), detected over the whole file;
- every bad field is a ``Problem`` with file, row (line of the file, header = 1) and column;
  all of them are collected and ``RollInvalid`` is raised when there is any: nothing imports;
- bounded: files over ``Limits.max_file_bytes`` and fields over ``Limits.max_field_chars``
  are refused; after ``Limits.max_problems`` problems the rest are counted, not listed;
- 生年月日 不詳 (issue 19: ``1945-00-00``, ``昭和20年不詳``, ``昭和20年3月不詳``, ``不詳``) imports
  with the unknown parts kept (``appliance.birthdate.parse_birth``); a date malformed or
  impossible without a 不詳 mark is an error as before, and so is one whose known part proves
  the voter under 18 on election day;
- 宛名番号 (``atena``, optional column): a value must carry a valid check digit
  (``roll_atena_check_digit``) and no two rows may share one (``roll_duplicate_atena``, naming
  both rows); an empty cell is a row without one.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

from ground.errors import Problem, RollInvalid
from appliance import atena as atena_no
from appliance.birthdate import BirthDate, parse_birth, reaches_age_by
from appliance.kana import is_valid_kana, normalize_kana
from ground.model import DisplayReason, Sex, Status, Voter, VoterId
from appliance.wareki import WarekiInvalid, parse_date


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 2 << 30  # 2 GiB: a 3.2M-voter export is about 0.5 GiB
    max_field_chars: int = 200
    max_problems: int = 1000
    max_voter_id_len: int = 20


# canonical field -> (Japanese header, English alias)
COLUMNS: dict[str, tuple[str, str]] = {
    "voter_id": ("選挙人番号", "voter_id"),
    "district": ("投票区", "district"),
    "name": ("氏名", "name"),
    "name_kana": ("氏名カナ", "name_kana"),
    "birth_date": ("生年月日", "birth_date"),
    "sex": ("性別", "sex"),
    "address": ("住所", "address"),
    "status": ("状態", "status"),
    "page": ("頁", "page"),
    "line": ("行", "line"),
    "display_reason": ("表示事由", "display_reason"),
    "moved_on": ("転出日", "moved_on"),
    "moved_to": ("転出先", "moved_to"),
    "atena": ("宛名番号", "atena"),
}
REQUIRED = ("voter_id", "district", "name", "name_kana", "birth_date", "sex", "address")
_HEADER_TO_FIELD = {h: f for f, names in COLUMNS.items() for h in names}

_SEX = {"男": Sex.MALE, "女": Sex.FEMALE, "1": Sex.MALE, "2": Sex.FEMALE, "M": Sex.MALE, "F": Sex.FEMALE}
_STATUS = {"": Status.REGISTERED, "登録": Status.REGISTERED, "抹消": Status.DELETED, "表示": Status.DISPLAYED,
           "REGISTERED": Status.REGISTERED, "DELETED": Status.DELETED, "DISPLAYED": Status.DISPLAYED}
_REASON = {"転出": DisplayReason.MOVED, "失権": DisplayReason.LOST_RIGHTS,
           "MOVED": DisplayReason.MOVED, "LOST_RIGHTS": DisplayReason.LOST_RIGHTS}
_MOVED_TO = {"県内": True, "県外": False, "WITHIN": True, "OUTSIDE": False}
_DIGITS = re.compile(r"^[0-9]+$")
_DISTRICT = re.compile(r"^第?([0-9]{1,4})(投票区)?$")
# Control characters (tab, newline …) would break the package's canonical TSV encoding.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_CHUNK = 1 << 20


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s).strip()


class _Problems:
    def __init__(self, file: str, limit: int) -> None:
        self.file = file
        self.limit = limit
        self.items: list[Problem] = []
        self.dropped = 0

    def add(self, row: int | None, column: str | None, message: str, code: str = "roll_invalid") -> None:
        if len(self.items) < self.limit:
            self.items.append(Problem(code, message, self.file, row, column))
        else:
            self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = list(self.items)
        total = len(items) + self.dropped
        if self.dropped:
            items.append(Problem("roll_invalid_more", f"ほか {self.dropped} 件の誤りがあります（表示は先頭 {self.limit} 件まで）",
                                 self.file))
        raise RollInvalid(f"{self.file}: 名簿ファイルに誤りがあります（{total} 件）。何も取り込んでいません。",
                          problems=items, total=total)


def _detect_encoding(f: BinaryIO, file: str) -> str:
    """'utf-8-sig' or 'cp932'; reads the whole stream once and rewinds it."""
    head = f.read(3)
    f.seek(0)
    if head == codecs.BOM_UTF8:
        return "utf-8-sig"
    for enc in ("utf-8", "cp932"):
        dec = codecs.getincrementaldecoder(enc)()
        try:
            while chunk := f.read(_CHUNK):
                dec.decode(chunk)
            dec.decode(b"", final=True)
            f.seek(0)
            return enc
        except UnicodeDecodeError:
            f.seek(0)
            continue
    # Neither: the encoding that reads further is the one the file was meant to be in; name the
    # first line it cannot read.
    data_line = max(_first_bad_line(f, "utf-8"), _first_bad_line(f, "cp932"))
    raise RollInvalid(f"{file}: 文字コードを判定できません（UTF-8 でも Shift_JIS(CP932) でもありません）",
                      code="roll_encoding",
                      problems=[Problem("roll_encoding", "UTF-8 でも Shift_JIS(CP932) でも読めない文字があります",
                                        file, data_line, None)])


def _first_bad_line(f: BinaryIO, enc: str) -> int:
    f.seek(0)
    line = 1
    dec = codecs.getincrementaldecoder(enc)()
    try:
        while raw := f.readline(_CHUNK):
            try:
                dec.decode(raw)
            except UnicodeDecodeError:
                return line
            line += raw.count(b"\n")
        return line
    finally:
        f.seek(0)


def parse_roll(data: bytes, file: str = "roll.csv", *, limits: Limits = Limits(),
               election_day: date | None = None) -> list[Voter]:
    """Parse a whole export held in memory (tests, small files)."""
    if len(data) > limits.max_file_bytes:
        raise _too_large(file, len(data), limits)
    return list(parse_roll_stream(io.BytesIO(data), file, limits=limits, election_day=election_day))


def read_roll_file(path: Path, *, limits: Limits = Limits(), election_day: date | None = None) -> list[Voter]:
    """Parse an export on disk into a list (small files; HQ's import streams with ``iter_roll_file``)."""
    return list(iter_roll_file(path, limits=limits, election_day=election_day))


def iter_roll_file(path: Path, *, limits: Limits = Limits(), election_day: date | None = None) -> Iterator[Voter]:
    """Stream an export on disk (see ``parse_roll_stream``); refuses files over the size limit unread."""
    file = str(path)
    try:
        size = path.stat().st_size
        f = open(path, "rb")
    except OSError as e:
        raise RollInvalid(f"名簿ファイルを読めません: {file} ({e.strerror})", code="roll_unreadable")
    with f:
        if size > limits.max_file_bytes:
            raise _too_large(file, size, limits)
        yield from parse_roll_stream(f, file, limits=limits, election_day=election_day)


def _too_large(file: str, size: int, limits: Limits) -> RollInvalid:
    return RollInvalid(f"{file}: 名簿ファイルが大きすぎます（{size} バイト、上限 {limits.max_file_bytes} バイト）",
                       code="roll_too_large",
                       problems=[Problem("roll_too_large", "ファイルが大きすぎます", file)])


def parse_roll_stream(f: BinaryIO, file: str = "roll.csv", *, limits: Limits = Limits(),
                      election_day: date | None = None) -> Iterator[Voter]:
    """Yield voters as they are read, then raise ``RollInvalid`` if any row was bad.

    Rows stop being yielded at the first problem, and the exception comes only after the last
    row was read, so that it lists every problem. A caller that writes rows as they come must do
    so inside a transaction it rolls back on ``RollInvalid`` (HQ's import does); memory stays
    bounded whatever the file's size.
    """
    enc = _detect_encoding(f, file)
    text = io.TextIOWrapper(f, encoding=enc, newline="")
    probs = _Problems(file, limits.max_problems)
    try:
        yield from _parse_text(text, file, limits, probs, election_day)
    finally:
        text.detach()
    probs.raise_if_any()


def _parse_text(text: io.TextIOWrapper, file: str, limits: Limits, probs: _Problems,
                election_day: date | None) -> Iterator[Voter]:
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as e:
        probs.add(1, None, f"見出し行が CSV として読めません: {e}", "roll_syntax")
        return
    if header is None or not any(h.strip() for h in header):
        probs.add(1, None, "見出し行がありません（選挙人番号, 投票区, 氏名, 氏名カナ, 生年月日, 性別, 住所, 状態）",
                  "roll_no_header")
        return
    index: dict[str, int] = {}
    shown: dict[str, str] = {}
    for i, raw_h in enumerate(header):
        h = _nfkc(raw_h)
        field = _HEADER_TO_FIELD.get(h) or _HEADER_TO_FIELD.get(h.lower())
        if field is None:
            continue  # other columns of the municipality's export (世帯番号 …) are not ours
        if field in index:
            probs.add(1, raw_h, f"同じ列が二度あります（{shown[field]} と {raw_h}）", "roll_duplicate_column")
            continue
        index[field] = i
        shown[field] = raw_h.strip()
    for field in REQUIRED:
        if field not in index:
            probs.add(1, COLUMNS[field][0], f"必須の列「{COLUMNS[field][0]}」（{COLUMNS[field][1]}）がありません",
                      "roll_missing_column")
    if probs:
        return

    seen: dict[str, int] = {}
    seen_atena: dict[str, int] = {}
    ncols = len(header)
    fast = _fast_parser(index, limits, election_day)
    prev_line = reader.line_num
    count = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except (csv.Error, UnicodeDecodeError) as e:
            probs.add(prev_line + 1, None, f"CSV として読めません: {e}", "roll_syntax")
            break  # the reader cannot resynchronise reliably
        row = prev_line + 1
        prev_line = reader.line_num
        if not fields or all(not x.strip() for x in fields):
            continue  # blank line
        if len(fields) != ncols:
            probs.add(row, None, f"列の数が見出しと違います（見出し {ncols} 列、この行 {len(fields)} 列）",
                      "roll_column_count")
            continue
        v = fast(fields) if fast is not None else None
        if v is None:  # anything unusual: the full check, which reports every problem
            v = _row(fields, index, shown, row, limits, probs, election_day)
        if v is None:
            continue
        first = seen.get(v.voter_id)
        if first is not None:
            probs.add(row, shown["voter_id"], f"選挙人番号 {v.voter_id} が重複しています（{first}行目と同じ）",
                      "roll_duplicate_voter")
            continue
        if v.atena is not None:
            first = seen_atena.get(v.atena)
            if first is not None:
                probs.add(row, shown["atena"], f"宛名番号 {v.atena} が重複しています（{first}行目と{row}行目）",
                          "roll_duplicate_atena")
                continue
            seen_atena[v.atena] = row
        seen[v.voter_id] = row
        count += 1
        if not probs:
            yield v
    if not count and not probs:
        probs.add(None, None, "選挙人の行が一行もありません", "roll_empty")


def _fast_parser(index: dict[str, int], limits: Limits,
                 election_day: date | None) -> Callable[[list[str]], Voter | None] | None:
    """A parser for the plain rows that make up almost every export (3.2 million of them at HQ).

    It accepts only rows already in canonical shape (ASCII ids and ISO dates, katakana display
    form, no 表示, no stray spaces) and returns ``None`` for anything else, which then goes
    through ``_row``. For every row it accepts, it returns what ``_row`` returns (a property test
    holds it to that).
    """
    i_id, i_d, i_n, i_k, i_b, i_s, i_a = (index[f] for f in REQUIRED)
    i_st = index.get("status")
    i_p, i_l, i_at = index.get("page"), index.get("line"), index.get("atena")
    i_extra = [index[f] for f in ("display_reason", "moved_on", "moved_to") if f in index]
    max_chars = limits.max_field_chars
    max_id = limits.max_voter_id_len
    sexes = {"男": Sex.MALE, "女": Sex.FEMALE, "1": Sex.MALE, "2": Sex.FEMALE, "M": Sex.MALE, "F": Sex.FEMALE}
    statuses = {"": Status.REGISTERED, "登録": Status.REGISTERED, "抹消": Status.DELETED}
    ascii_digits = _DIGITS.match
    valid_kana = is_valid_kana
    atena_problem = atena_no.problem
    control = _CONTROL.search
    iso = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").match
    youngest = None
    if election_day is not None:
        youngest = _birth_limit(election_day)

    def parse(fields: list[str]) -> Voter | None:
        joined = "".join(fields)
        if control(joined) or max(map(len, fields)) > max_chars:
            return None
        vid, dist, name, kana, birth_s, sex_s, address = (fields[i_id], fields[i_d], fields[i_n], fields[i_k],
                                                          fields[i_b], fields[i_s], fields[i_a])
        status = statuses.get(fields[i_st]) if i_st is not None else Status.REGISTERED
        if (status is None or not ascii_digits(vid) or len(vid) > max_id or not ascii_digits(dist) or len(dist) > 4
                or not name or name != name.strip() or not address or address != address.strip()
                or not valid_kana(kana) or not iso(birth_s)):
            return None
        sex = sexes.get(sex_s)
        if sex is None or any(fields[i] for i in i_extra):
            return None
        page = line = None
        if i_p is not None and fields[i_p]:
            if not ascii_digits(fields[i_p]) or len(fields[i_p]) > 9:
                return None
            page = int(fields[i_p])
        if i_l is not None and fields[i_l]:
            if not ascii_digits(fields[i_l]) or len(fields[i_l]) > 9:
                return None
            line = int(fields[i_l])
        at = None
        if i_at is not None and fields[i_at]:
            at = fields[i_at]
            if not ascii_digits(at) or atena_problem(at) is not None:
                return None
        try:
            birth = date.fromisoformat(birth_s)
        except ValueError:
            return None
        if birth.year < 1868 or (youngest is not None and birth > youngest):
            return None
        return Voter(VoterId(vid), int(dist), name, kana, BirthDate.of(birth), sex, address,
                     status, None, None, None, page, line, at)

    return parse


def _row(fields: list[str], index: dict[str, int], shown: dict[str, str], row: int, limits: Limits,
         probs: _Problems, election_day: date | None) -> Voter | None:
    bad = False

    flagged: set[str] = set()

    def get(field: str) -> str:
        """The stripped field; a field too long or with control characters is reported once and read as ""."""
        nonlocal bad
        i = index.get(field)
        if i is None:
            return ""
        v = fields[i]
        if len(v) > limits.max_field_chars:
            probs.add(row, shown[field], f"長すぎます（{len(v)} 文字、上限 {limits.max_field_chars} 文字）",
                      "roll_field_too_long")
        elif _CONTROL.search(v):
            probs.add(row, shown[field], "改行・タブなどの制御文字は使えません", "roll_control_char")
        else:
            return v.strip()
        bad = True
        flagged.add(field)
        return ""

    def fail(field: str, message: str, code: str = "roll_invalid") -> None:
        nonlocal bad
        bad = True
        if field not in flagged:
            probs.add(row, shown.get(field, COLUMNS[field][0]), message, code)

    vid = _nfkc(get("voter_id"))
    if not vid:
        fail("voter_id", "選挙人番号がありません")
    elif not _DIGITS.match(vid) or len(vid) > limits.max_voter_id_len:
        fail("voter_id", f"選挙人番号は {limits.max_voter_id_len} 桁までの数字です: {vid!r}")

    district = 0
    d_raw = _nfkc(get("district"))
    m = _DISTRICT.match(d_raw)
    if m:
        district = int(m.group(1))
    else:
        fail("district", f"投票区は数字で指定してください: {d_raw!r}")

    name = get("name")
    if not name:
        fail("name", "氏名がありません")

    kana_raw = get("name_kana")
    kana = normalize_kana(kana_raw)
    if not kana:
        fail("name_kana", "氏名カナがありません")
    elif not is_valid_kana(kana):
        fail("name_kana", f"カナ以外の文字があります: {kana_raw!r}")

    birth: BirthDate | None = None
    b_raw = get("birth_date")
    if not b_raw:
        fail("birth_date", "生年月日がありません")
    else:
        try:
            birth = parse_birth(b_raw)
        except WarekiInvalid as e:
            fail("birth_date", str(e))
        else:
            known = birth.as_date()
            if election_day is not None and known is not None and _age_on(known, election_day) < 18:
                fail("birth_date", f"選挙期日（{election_day.isoformat()}）に 18 歳未満です: {b_raw!r}")
            elif election_day is not None and known is not None and known > election_day:
                fail("birth_date", f"生年月日が選挙期日より後です: {b_raw!r}")
            elif election_day is not None and known is None and reaches_age_by(birth, election_day) is False:
                fail("birth_date", f"生年月日（不詳を含む）から、選挙期日（{election_day.isoformat()}）に "
                                   f"18 歳未満です: {b_raw!r}")

    s_raw = _nfkc(get("sex")).upper()
    sex = _SEX.get(s_raw)
    if sex is None:
        fail("sex", f"性別は 男/女、1/2、M/F のいずれかです: {s_raw!r}")

    address = get("address")
    if not address:
        fail("address", "住所がありません")

    st_raw = _nfkc(get("status")).upper()
    status = _STATUS.get(st_raw)
    if status is None:
        fail("status", f"状態は 登録/抹消/表示 のいずれかです: {st_raw!r}")

    reason: DisplayReason | None = None
    moved_on: date | None = None
    within: bool | None = None
    r_raw = _nfkc(get("display_reason")).upper()
    mo_raw = get("moved_on")
    mt_raw = _nfkc(get("moved_to")).upper()
    if status is Status.DISPLAYED:
        if not r_raw:
            fail("display_reason", "状態が表示の行には表示事由（転出/失権）が必要です")
        elif r_raw not in _REASON:
            fail("display_reason", f"表示事由は 転出/失権 のいずれかです: {r_raw!r}")
        else:
            reason = _REASON[r_raw]
        if reason is DisplayReason.MOVED:
            if not mo_raw:
                fail("moved_on", "転出の表示には転出日が必要です")
            else:
                try:
                    moved_on = parse_date(mo_raw)
                except WarekiInvalid as e:
                    fail("moved_on", str(e))
                else:
                    first_day = birth.earliest() if birth is not None else None
                    if first_day is not None and moved_on < first_day:
                        fail("moved_on", f"転出日が生年月日より前です: {mo_raw!r}")
            if not mt_raw:
                fail("moved_to", "転出の表示には転出先（県内/県外）が必要です")
            elif mt_raw not in _MOVED_TO:
                fail("moved_to", f"転出先は 県内/県外 のいずれかです: {mt_raw!r}")
            else:
                within = _MOVED_TO[mt_raw]
        elif reason is DisplayReason.LOST_RIGHTS:
            if mo_raw:
                fail("moved_on", "失権の表示に転出日は書けません")
            if mt_raw:
                fail("moved_to", "失権の表示に転出先は書けません")
    elif status is not None:
        for field, raw in (("display_reason", r_raw), ("moved_on", mo_raw), ("moved_to", mt_raw)):
            if raw:
                fail(field, f"状態が{status.ja}の行には書けません（表示の行だけです）: {raw!r}")

    page = _opt_int(get("page"), "page", fail)
    line = _opt_int(get("line"), "line", fail)

    at: str | None = None
    at_raw = atena_no.normalize(get("atena"))
    if at_raw:
        why = atena_no.problem(at_raw)
        if why is not None:
            fail("atena", why, "roll_atena_check_digit")
        else:
            at = at_raw

    if bad or sex is None or status is None or birth is None:
        return None
    return Voter(VoterId(vid), district, name, kana, birth, sex, address, status, reason, moved_on, within, page, line,
                 at)


def _opt_int(raw: str, field: str, fail: Callable[[str, str], None]) -> int | None:
    t = _nfkc(raw)
    if not t:
        return None
    if not _DIGITS.match(t) or len(t) > 9:
        fail(field, f"正の整数で指定してください: {raw!r}")
        return None
    return int(t)


def _birth_limit(election_day: date) -> date:
    """The latest birth date of a voter who is 18 on ``election_day`` (see ``_age_on``)."""
    nxt = election_day + timedelta(days=1)
    try:
        return nxt.replace(year=nxt.year - 18)
    except ValueError:  # 29 February: the birthday is 1 March in a common year
        return date(nxt.year - 18, 2, 28)


def _age_on(birth: date, day: date) -> int:
    """Age in full years on ``day`` for the roll's purpose (who may be on it at all)."""
    # 年齢計算ニ関スル法律: an age is reached at the end of the day before the birthday, so a voter
    # whose 18th birthday is the day after election day is of age on election day.
    nxt = day + timedelta(days=1)
    return nxt.year - birth.year - ((nxt.month, nxt.day) < (birth.month, birth.day))


def check_fields(values: dict[str, str], shown: dict[str, str], row: int, file: str, limits: Limits = Limits(),
                 election_day: date | None = None) -> list[Problem]:
    """Every problem of one row given as field → raw text (``appliance.rollmap``'s dry run), as ``_row`` finds them."""
    fields = list(values.values())
    index = {f: i for i, f in enumerate(values)}
    probs = _Problems(file, limits.max_problems)
    _row(fields, index, shown, row, limits, probs, election_day)
    return list(probs.items)
