"""Column maps (列対応表) for a municipality's own roll export, and the dry run ``meibo roll check`` (issue 19).

Pure parsing: the only I/O is reading the map and the export it is given; nothing is written.
Never import the store, the CLI, crypto or the network.

A map is a small TOML file::

    encoding = "cp932"            # "cp932", "utf-8" or "auto" (UTF-8 with or without BOM, else CP932)
    ignore = ["旧氏", "旧氏カナ"]   # headers that are known and deliberately not read
    [columns]                     # field = header text, or 1-based column number
    voter_id = "選挙人番号"
    name = "氏名"
    name_kana = 4
    atena = "宛名番号"             # optional: the 住基 person number, check digit validated

Fields are those of ``appliance.rollcsv.COLUMNS`` (``atena`` among them). Names are read
byte-exact: nothing here normalises 氏名 (IVS and private-use 外字 stay as written).

The dry run counts rows per status: ``ok``, ``birth_unknown`` (a 生年月日 不詳 row, imported with
its unknown part), ``age_confirm`` (of those, the ones whose age the known part cannot prove on
election day: the poll worker confirms it from an ID, 年齢確認) and ``error``.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from appliance import atena
from appliance.birthdate import BirthDate, parse_birth, reaches_age_by
from appliance.rollcsv import COLUMNS, REQUIRED, Limits, check_fields
from appliance.wareki import WarekiInvalid
from ground.errors import Problem, RollInvalid

FIELDS = tuple(COLUMNS)
ENCODINGS = ("auto", "cp932", "utf-8")


@dataclass(frozen=True)
class ColumnMap:
    """Which column of the export is which field (列対応表)."""

    columns: dict[str, str | int]
    encoding: str = "auto"
    ignore: tuple[str, ...] = ()


def _map_error(file: str, message: str) -> RollInvalid:
    return RollInvalid(f"{file}: 列対応表に誤りがあります: {message}", code="roll_map_invalid",
                       problems=[Problem("roll_map_invalid", message, file)])


def load_map(path: Path) -> ColumnMap:
    """Read a map; raise ``RollInvalid`` (code ``roll_map_invalid``) naming the file and the key."""
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RollInvalid(f"列対応表を読めません: {file} ({e.strerror})", code="roll_map_unreadable") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise _map_error(file, f"TOML として読めません: {e}") from e
    return map_from_dict(raw, file)


def map_from_dict(raw: dict[str, Any], file: str = "map.toml") -> ColumnMap:
    unknown = sorted(set(raw) - {"encoding", "ignore", "columns"})
    if unknown:
        raise _map_error(file, f"知らないキーです: {', '.join(unknown)}")
    enc = raw.get("encoding", "auto")
    if enc not in ENCODINGS:
        raise _map_error(file, f"encoding は {' / '.join(ENCODINGS)} のいずれかです: {enc!r}")
    ignore = raw.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
        raise _map_error(file, "ignore は見出しの文字列の配列です")
    cols = raw.get("columns")
    if not isinstance(cols, dict):
        raise _map_error(file, "[columns] がありません")
    out: dict[str, str | int] = {}
    for k, v in cols.items():
        if k not in FIELDS:
            raise _map_error(file, f"columns.{k}: 知らない項目です（{', '.join(FIELDS)}）")
        if isinstance(v, bool) or not isinstance(v, (str, int)) or (isinstance(v, int) and v < 1):
            raise _map_error(file, f"columns.{k}: 見出しの文字列か 1 から数えた列番号です: {v!r}")
        out[k] = v
    missing = [f for f in REQUIRED if f not in out]
    if missing:
        raise _map_error(file, f"必須の項目がありません: {', '.join(missing)}")
    return ColumnMap(out, enc, tuple(ignore))


@dataclass
class CheckReport:
    """What ``check`` found: rows per status (ok / 不詳 date / error) and the first problems."""

    file: str
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    problem_total: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"code": "ok" if not self.problem_total else "roll_invalid",
                "counts": {k: self.counts.get(k, 0) for k in ("ok", "birth_unknown", "age_confirm", "error")},
                "problem_total": self.problem_total,
                "problems": [{"code": p.code, "message": p.message, "file": p.file, "row": p.row,
                              "column": p.column} for p in self.problems]}


def _decode(data: bytes, enc: str, file: str) -> str:
    tries = ("utf-8-sig", "cp932") if enc == "auto" else (("utf-8-sig",) if enc == "utf-8" else ("cp932",))
    for e in tries:
        try:
            return data.decode(e)
        except UnicodeDecodeError:
            continue
    raise RollInvalid(f"{file}: 文字コード {enc} で読めません", code="roll_encoding",
                      problems=[Problem("roll_encoding", f"文字コード {enc} で読めない文字があります", file)])


def check(path: Path, cmap: ColumnMap, *, first: int = 20, limits: Limits = Limits(),
          election_day: date | None = None) -> CheckReport:
    """Dry run of an import: read every row with ``cmap``, count and list problems; write nothing."""
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RollInvalid(f"名簿ファイルを読めません: {file} ({e.strerror})", code="roll_unreadable") from e
    if len(data) > limits.max_file_bytes:
        raise RollInvalid(f"{file}: 名簿ファイルが大きすぎます", code="roll_too_large")
    rep = CheckReport(file)

    def add(row: int | None, column: str | None, message: str, code: str) -> None:
        rep.problem_total += 1
        if len(rep.problems) < first:
            rep.problems.append(Problem(code, message, file, row, column))

    reader = csv.reader(io.StringIO(_decode(data, cmap.encoding, file), newline=""), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        add(1, None, "見出し行がありません", "roll_no_header")
        return rep
    index: dict[str, int] = {}
    shown: dict[str, str] = {}
    stripped = [h.strip() for h in header]
    for f, where in cmap.columns.items():
        if isinstance(where, int):
            if where > len(header):
                add(1, str(where), f"{where} 列目がありません（見出しは {len(header)} 列）", "roll_missing_column")
                continue
            index[f], shown[f] = where - 1, stripped[where - 1] or f"{where}列目"
        elif stripped.count(where) != 1:
            add(1, where, f"見出し「{where}」が{'ありません' if where not in stripped else '二度あります'}"
                          f"（{f}）", "roll_missing_column")
        else:
            index[f], shown[f] = stripped.index(where), where
    if rep.problem_total:
        return rep

    seen_id: dict[str, int] = {}
    seen_atena: dict[str, int] = {}
    prev = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            add(prev + 1, None, f"CSV として読めません: {e}", "roll_syntax")
            rep.counts["error"] += 1
            break
        row, prev = prev + 1, reader.line_num
        if not fields or all(not x.strip() for x in fields):
            continue
        if len(fields) != len(header):
            add(row, None, f"列の数が見出しと違います（見出し {len(header)} 列、この行 {len(fields)} 列）",
                "roll_column_count")
            rep.counts["error"] += 1
            continue
        canon = {f: fields[i] for f, i in index.items()}
        before = rep.problem_total
        birth: BirthDate | None = None
        try:
            birth = parse_birth(canon["birth_date"].strip())
        except WarekiInvalid:
            pass  # check_fields reports it with its own message
        probs = check_fields(canon, shown, row, file, limits, election_day)
        for p in probs:
            add(p.row, p.column, p.message, p.code)
        num = atena.normalize(canon.get("atena", ""))
        if num and atena.problem(num) is None:  # a bad check digit is among ``probs`` already
            if num in seen_atena:
                add(row, shown["atena"], f"宛名番号 {num} が重複しています（{seen_atena[num]}行目と{row}行目）",
                    "roll_duplicate_atena")
            else:
                seen_atena[num] = row
        vid = canon["voter_id"].strip()
        if vid in seen_id and not probs:
            add(row, shown["voter_id"], f"選挙人番号 {vid} が重複しています（{seen_id[vid]}行目と同じ）",
                "roll_duplicate_voter")
        seen_id.setdefault(vid, row)
        if rep.problem_total > before:
            rep.counts["error"] += 1
        elif birth is not None and not birth.known:
            rep.counts["birth_unknown"] += 1
            if election_day is not None and reaches_age_by(birth, election_day) is None:
                rep.counts["age_confirm"] += 1  # only an election day can tell
        else:
            rep.counts["ok"] += 1
    return rep


def to_canonical(path: Path, cmap: ColumnMap, *, limits: Limits = Limits()) -> bytes:
    """The export rewritten as the canonical UTF-8 CSV ``rollcsv`` reads (English headers, mapped
    fields only, rows in the same order so row numbers stay the export's), after the checks only
    a map can ask for: 宛名番号 check digit and duplicates. Raise ``RollInvalid`` listing them.

    A 生年月日 不詳 row passes through as written; ``rollcsv`` keeps its unknown part.
    """
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RollInvalid(f"名簿ファイルを読めません: {file} ({e.strerror})", code="roll_unreadable") from e
    rep = check(path, cmap, first=limits.max_problems, limits=limits)
    if rep.problem_total == 0:
        reader = csv.reader(io.StringIO(_decode(data, cmap.encoding, file), newline=""), strict=True)
        header = [h.strip() for h in next(reader)]
        cols = {f: (w - 1 if isinstance(w, int) else header.index(w)) for f, w in cmap.columns.items()}
        # Not a csv.writer (those go through csvsafe, whose formula defusing would change a name):
        # this text is never opened by a spreadsheet, only read back by rollcsv. Every field quoted.
        lines = [",".join(COLUMNS[f][1] for f in cols)]
        for fields in reader:
            lines.append(",".join('"' + (fields[i] if i < len(fields) else "").replace('"', '""') + '"'
                                  for i in cols.values()) if fields else "")
        return ("\n".join(lines) + "\n").encode("utf-8")
    raise RollInvalid(f"{file}: 名簿ファイルに誤りがあります（{rep.problem_total} 件）。何も取り込んでいません。",
                      problems=list(rep.problems), total=rep.problem_total)
