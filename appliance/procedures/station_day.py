"""Opening and closing the station for the day, and its figures.

Closing is a supervisor's act, never a clock cut-off: a ``station`` ``close`` entry; from then on
``ensure_accepting`` refuses check-ins with ``station_closed_for_day`` until a ``station`` ``open``
entry reopens the station. The check-in paths call ``ensure_accepting`` first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from appliance import journal
from appliance.procedures.common import StationClosedForDay, append, journal_events, short
from appliance.procedures.oath import OathReason
from appliance.store import Store
from appliance.terminal import Terminal, hlc_to_jst
from ground.errors import ApplianceError, UsageError
from ground.events import Event, EventKind, decode
from ground.model import ElectionConfig, Station


@dataclass(frozen=True)
class DayState:
    state: str  # never | open | closed
    at: datetime | None = None
    clerk: str = ""


def day_state(store: Store) -> DayState:
    row = store.conn.execute("SELECT body FROM journal WHERE kind='station' ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return DayState("never")
    ev = decode(bytes(row[0]))
    return DayState("open" if ev.data.get("action") == "open" else "closed", hlc_to_jst(ev.hlc),
                    str(ev.data.get("clerk", "")))


def ensure_accepting(store: Store) -> None:
    """Called first by every check-in path: a station closed by its supervisor refuses; so does a
    terminal in 試験モード (its test area beside the store: appliance/rehearsal.py)."""
    if (store.path.parent / "rehearsal").exists():
        raise ApplianceError("この端末は試験モード（リハーサル）中のため本番の受付はできません。"
                             "投票管理者が試験モードを終了（ゼロ確認）してください", code="rehearsal_active")
    st = day_state(store)
    if st.state == "closed":
        when = f"（{st.at:%m月%d日 %H:%M} 閉鎖）" if st.at else ""
        raise StationClosedForDay(f"投票所は閉鎖されています{when}。受付できません。"
                                  "再開するときは投票管理者が開設してください")


@dataclass(frozen=True)
class ContestFigures:
    contest: str
    name: str
    matched: int  # 名簿対照数 today (ballots recorded by this terminal, not withheld or voided)
    issued: int | None  # 交付数 last entered today
    left: int | None = None  # 残数 entered at closing
    received: int | None = None  # 受領数 entered at closing

    @property
    def difference(self) -> int | None:
        return None if self.issued is None else self.issued - self.matched


@dataclass(frozen=True)
class ClosingFigures:
    """What the supervisor sees when closing: the station's figures for the day."""

    station: str
    day: date
    voters: int  # check-ins handing at least one ballot today
    contests: tuple[ContestFigures, ...]
    tentative: int  # 仮投票
    proxy: int  # 代理投票
    braille: int  # 点字投票
    zaigai: int  # 在外選挙人
    oath_reasons: dict[str, int]  # code → count (early stations)

    @property
    def flagged(self) -> tuple[ContestFigures, ...]:
        return tuple(c for c in self.contests if c.difference not in (None, 0))

    def text(self, config: ElectionConfig) -> str:
        lines = [f"投票所 {self.station}  {self.day:%Y年%m月%d日} の集計", f"  投票者数（受付） {self.voters} 人"]
        for c in self.contests:
            issued = "未入力" if c.issued is None else f"{c.issued}"
            diff = "" if c.difference in (None, 0) else f"  ← 差 {c.difference:+d}（確認してください）"
            extra = "" if c.left is None else f"  受領 {c.received if c.received is not None else '—'} 残 {c.left}"
            lines.append(f"  {c.name}: 名簿対照数 {c.matched} / 交付数 {issued}{extra}{diff}")
        lines.append(f"  仮投票 {self.tentative} 件  代理投票 {self.proxy} 件  点字投票 {self.braille} 件"
                     f"  在外選挙人 {self.zaigai} 人")
        if self.oath_reasons:
            lines.append("  宣誓書の事由: " + "、".join(f"{OathReason(k).ja} {n}" for k, n in self.oath_reasons.items()))
        return "\n".join(lines)


def closing_figures(config: ElectionConfig, station: Station, events: Sequence[Event], day: date) -> ClosingFigures:
    """Pure: the station's figures for ``day`` from its journal entries."""
    handed: dict[int, set[str]] = {}
    checkins: dict[int, Event] = {}
    issued: dict[str, tuple[int, int, int | None, int | None]] = {}
    tentative = 0
    for e in events:
        if hlc_to_jst(e.hlc).date() != day:
            if e.kind in (EventKind.WITHHELD, EventKind.VOID) and e.ref in handed:
                pass  # a correction written after midnight still applies to its check-in
            else:
                continue
        if e.kind is EventKind.CHECKIN:
            handed[e.seq] = set(e.contests)
            checkins[e.seq] = e
        elif e.kind is EventKind.WITHHELD and e.ref in handed:
            handed[e.ref] -= set(e.contests)
        elif e.kind is EventKind.VOID:
            handed.pop(e.ref, None)
        elif e.kind is EventKind.TENTATIVE:
            tentative += 1
        elif e.kind is EventKind.COUNT:
            c = str(e.data["contest"])
            prev = issued.get(c)
            if prev is None or e.hlc >= prev[0]:
                left = e.data.get("left")
                rec = e.data.get("received")
                issued[c] = (e.hlc, int(e.data["issued"]), int(left) if isinstance(left, int) else None,
                             int(rec) if isinstance(rec, int) else None)
    live = {s: cs for s, cs in handed.items() if cs}
    rows = []
    for ct in config.contests:
        n = sum(1 for cs in live.values() if ct.contest_id in cs)
        got = issued.get(ct.contest_id)
        rows.append(ContestFigures(ct.contest_id, ct.name, n, got[1] if got else None, got[2] if got else None,
                                   got[3] if got else None))
    oath: dict[str, int] = {}
    proxy = braille = zaigai = 0
    for s in live:
        d = checkins[s].data
        proxy += bool(d.get("proxy"))
        braille += bool(d.get("braille"))
        zaigai += bool(d.get("zaigai"))
        if d.get("oath_reason"):
            oath[str(d["oath_reason"])] = oath.get(str(d["oath_reason"]), 0) + 1
    return ClosingFigures(station.station_id, day, len(live), tuple(rows), tentative, proxy, braille, zaigai,
                          dict(sorted(oath.items())))


def open_station_day(term: Terminal, clerk: str) -> DayState:
    """開設 (or reopen after closing): a ``station`` ``open`` entry."""
    if day_state(term.store).state == "open":
        raise UsageError("投票所はすでに開設されています", code="station_state")
    append(term, EventKind.STATION, {"action": "open", "clerk": short(clerk, "担当者ID")})
    return day_state(term.store)


def close_station_day(term: Terminal, clerk: str,
                      final: Mapping[str, tuple[int | None, int, int]] | None = None) -> ClosingFigures:
    """閉鎖: stop check-ins (voters already inside were checked in before this). ``final`` maps
    contest → (received 受領数 or None, issued 交付数, left 残数), recorded as closing ``count``
    entries in the same transaction as the ``close`` entry."""
    if day_state(term.store).state == "closed":
        raise UsageError("投票所はすでに閉鎖されています", code="station_state")
    now = term.clock.now()
    for c, (rec, iss, left) in (final or {}).items():
        if c not in term.config.contest_ids:
            raise UsageError(f"選挙 {c} はこの選挙にありません", code="contest_unknown")
        for label, v in (("受領数", rec), ("交付数", iss), ("残数", left)):
            if v is not None and not 0 <= v <= 1_000_000:
                raise UsageError(f"{label}が不正です: {v}", code="count_invalid")
    with term.store.atomic() as conn:
        for c, (rec, iss, left) in (final or {}).items():
            data: dict[str, Any] = {"contest": c, "hour": now.hour, "issued": iss, "left": left, "final": True,
                                    "clerk": short(clerk, "担当者ID")}
            if rec is not None:
                data["received"] = rec
            journal.append(term.store, conn, EventKind.COUNT, data, term.hlc)
        journal.append(term.store, conn, EventKind.STATION, {"action": "close", "clerk": short(clerk, "担当者ID")},
                       term.hlc)
    return closing_figures(term.config, term.station, journal_events(term.store), now.date())


def station_figures(term: Terminal, day: date | None = None) -> ClosingFigures:
    return closing_figures(term.config, term.station, journal_events(term.store), day or term.clock.now().date())
