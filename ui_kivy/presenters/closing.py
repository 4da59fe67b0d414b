"""閉鎖 (closing) entry: 受領数, 交付数 and 残数 per contest typed on the digit pad before the station
is closed; then ``procedures.closing_panel`` shows 受領数 − 交付数 − 残数 and 交付数 against 名簿対照数.

Pure state and functions, no kivy import. One cell (contest, field) is selected at a time; digits
go into it; 次へ moves to the next cell (受領数 → 交付数 → 残数 → the next contest's 受領数).
交付数 starts from the last hourly entry, if any. The station can be closed only when every cell
holds a number (0 is a number), so the 投票録 figures are never half entered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ui_kivy.service import CountRow

FIELDS: tuple[tuple[str, str], ...] = (("received", "受領数"), ("issued", "交付数"), ("left", "残数"))
MAX_DIGITS = 7


@dataclass(frozen=True)
class ClosingRow:
    contest: str
    name: str
    matched: int  # 名簿対照数 so far
    values: tuple[str, str, str]  # digits typed for received, issued, left ("" = not yet)


@dataclass(frozen=True)
class ClosingEntry:
    rows: tuple[ClosingRow, ...]
    selected: tuple[str, int] | None = None  # (contest, field index)
    message: str = ""

    @property
    def complete(self) -> bool:
        return all(all(v != "" for v in r.values) for r in self.rows)

    def cell_text(self, row: ClosingRow, i: int) -> str:
        label = FIELDS[i][1]
        v = row.values[i]
        mark = "● " if self.selected == (row.contest, i) else ""
        return f"{mark}{label}\n{v if v else '＿'}"

    def final(self) -> dict[str, tuple[int | None, int, int]]:
        """contest → (受領数, 交付数, 残数) for ``close_day``; only when ``complete``."""
        return {r.contest: (int(r.values[0]), int(r.values[1]), int(r.values[2])) for r in self.rows}


def closing_entry(counts: list[CountRow]) -> ClosingEntry:
    rows = tuple(ClosingRow(c.contest, c.name, c.recorded, ("", "" if c.issued is None else str(c.issued), ""))
                 for c in counts)
    return ClosingEntry(rows, (rows[0].contest, 0) if rows else None)


def select(e: ClosingEntry, contest: str, field: int) -> ClosingEntry:
    if not any(r.contest == contest for r in e.rows) or not 0 <= field < len(FIELDS):
        return e
    return replace(e, selected=(contest, field), message="")


def _edit(e: ClosingEntry, fn: Callable[[str], str]) -> ClosingEntry:
    if e.selected is None:
        return replace(e, message="入力する欄を選んでください")
    contest, i = e.selected
    rows = []
    for r in e.rows:
        if r.contest == contest:
            vals = list(r.values)
            vals[i] = fn(vals[i])
            r = replace(r, values=(vals[0], vals[1], vals[2]))
        rows.append(r)
    return replace(e, rows=tuple(rows), message="")


def digit(e: ClosingEntry, d: str) -> ClosingEntry:
    if not (len(d) == 1 and d.isdigit()):
        return e
    return _edit(e, lambda v: v if len(v) >= MAX_DIGITS else ("" if v == "0" else v) + d)


def backspace(e: ClosingEntry) -> ClosingEntry:
    return _edit(e, lambda v: v[:-1])


def next_cell(e: ClosingEntry) -> ClosingEntry:
    if e.selected is None or not e.rows:
        return e
    contest, i = e.selected
    idx = next(n for n, r in enumerate(e.rows) if r.contest == contest)
    flat = idx * len(FIELDS) + i + 1
    if flat >= len(e.rows) * len(FIELDS):
        flat = 0
    return replace(e, selected=(e.rows[flat // len(FIELDS)].contest, flat % len(FIELDS)), message="")


def missing_text(e: ClosingEntry) -> str:
    gaps = [f"{r.name}の{FIELDS[i][1]}" for r in e.rows for i, v in enumerate(r.values) if v == ""]
    if not gaps:
        return ""
    more = f" ほか {len(gaps) - 2} 欄" if len(gaps) > 2 else ""
    return "未入力があります: " + "、".join(gaps[:2]) + more


__all__ = ["FIELDS", "ClosingRow", "ClosingEntry", "closing_entry", "select", "digit", "backspace", "next_cell",
           "missing_text"]
