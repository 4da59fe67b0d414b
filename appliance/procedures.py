"""Election-day procedures at the station (issue 10): 仮投票, 宣誓書事由, 代理/点字 marks, the opening
check, closing the station for the day, 在外選挙人, and the 不在者投票 warning.

What this module owns, and its rules:
- **仮投票** (公職選挙法 50条): a ``tentative`` journal entry naming the voter as identified (a
  voter id on the roll) or as declared (name and birth date, no roll row), the reason, who
  decided, the clerk and the contests. It never touches the ``voted`` table and is never a
  ``checkin``: HQ keeps it in ``other_events`` and counts it apart, never as a ballot.
- **宣誓書事由** (公職選挙法 48条の2第1項各号; form: 施行令 49条の8): the statutory list as codes and
  labels. At an early station every check-in carries one (``oath_reason`` mark, stored as the
  English code); at other stations it is refused (no 宣誓書 there).
- **Closing** is a supervisor's act, never a clock cut-off: a ``station`` ``close`` entry; from then
  on ``ensure_accepting`` refuses check-ins with ``station_closed_for_day`` until a ``station``
  ``open`` entry reopens the station. The check-in paths call ``ensure_accepting`` first.
- **Opening check**: the terminal's election, contests and roll version against HQ's (as the sync
  agent learnt them in WELCOME); a typed result that names both versions on a mismatch.
- **在外選挙人**: a second roll (``zaigai_voters``) for national contests only, at early stations and
  at designated ones; it arrives only as HQ's signed package (appliance/zaigaipkg.py, verified
  before the store is opened; ``install_zaigai`` refuses another election or an older version and
  replaces roll, version and designated stations in one transaction); the 在外選挙人証 number must
  match; the issue is a ``checkin`` entry for voter ``Z:<number>`` with ``zaigai`` set, so HQ's
  double-vote rule covers it like any ballot.
- **不在者投票 status** notices from HQ (``absentee_notices``): a voter holding papers is warned,
  never blocked, with the procedure to follow.

Writes go through the terminal's ``Store.atomic()`` and ``journal.append`` (one transaction each).
Tables this module needs are created by ``migrate_procedures`` (for appliance/store.MIGRATIONS) and,
until that is wired, idempotently by ``ensure_schema``. Never imports the network, HQ or the UI.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from appliance import journal
from appliance.eligibility import in_window
from ground.errors import ApplianceError, NotFound, RollRejected, UsageError
from ground.events import MAX_STR, Event, EventKind, decode
from ground.model import ContestId, ElectionConfig, Level, Station, StationKind
from appliance.store import Store
from appliance.terminal import Terminal, hlc_to_jst
from appliance.zaigaipkg import (ZAIGAI_COLUMNS, ZAIGAI_PREFIX, ZaigaiPackage, ZaigaiVoter, card_number, digits,
                                 parse_zaigai_csv)

DECLARED_VOTER = "?"  # ``voter`` of a 仮投票 whose voter is not on the roll (declared only)
META_ZAIGAI_DESIGNATED = "zaigai.designated_stations"


# ---------------------------------------------------------------------------------------------
# errors (named for what the caller does next)

class ProcedureError(ApplianceError):
    code = "procedure_error"


class StationClosedForDay(ProcedureError):
    """The supervisor closed the station: no check-in until it is reopened."""

    code = "station_closed_for_day"


class OathReasonRequired(ProcedureError):
    code = "oath_reason_required"


class OathReasonInvalid(ProcedureError):
    code = "oath_reason_invalid"


class TentativeInvalid(ProcedureError):
    code = "tentative_invalid"


class ZaigaiRefused(ProcedureError):
    code = "zaigai_refused"


# ---------------------------------------------------------------------------------------------
# schema

_SCHEMA = """
    CREATE TABLE IF NOT EXISTS zaigai_voters (
        zaigai_id TEXT PRIMARY KEY, card_no TEXT NOT NULL, name TEXT NOT NULL, kana TEXT NOT NULL,
        birth_date TEXT NOT NULL, sex TEXT NOT NULL, last_address TEXT NOT NULL, country TEXT NOT NULL,
        status TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS absentee_notices (
        voter_id TEXT NOT NULL, contest TEXT NOT NULL, state TEXT NOT NULL, hlc INTEGER NOT NULL,
        PRIMARY KEY (voter_id, contest)
    ) WITHOUT ROWID
"""


def migrate_procedures(c: sqlite3.Connection) -> None:
    """Migration for appliance/store.MIGRATIONS (append as the next number)."""
    for stmt in _SCHEMA.split(";"):
        if stmt.strip():
            c.execute(stmt)


def ensure_schema(store: Store) -> None:
    """Create this module's tables if the store's migrations did not (idempotent)."""
    if store.conn.execute("SELECT 1 FROM sqlite_master WHERE name='absentee_notices'").fetchone():
        return
    with store.atomic() as c:
        migrate_procedures(c)


# ---------------------------------------------------------------------------------------------
# journal reading helpers

def _events(store: Store, kinds: Sequence[str] | None = None) -> list[Event]:
    if kinds is None:
        rows = store.conn.execute("SELECT body FROM journal ORDER BY seq")
    else:
        q = ",".join("?" * len(kinds))
        rows = store.conn.execute(f"SELECT body FROM journal WHERE kind IN ({q}) ORDER BY seq", tuple(kinds))
    return [decode(bytes(r[0])) for r in rows]


# ---------------------------------------------------------------------------------------------
# 宣誓書事由 (公職選挙法 48条の2第1項各号, 宣誓書の様式: 施行令 49条の8)

class OathReason(str, Enum):
    WORK = "work"  # 1号
    TRAVEL = "travel"  # 2号
    ILLNESS = "illness"  # 3号
    REMOTE_AREA = "remote_area"  # 4号
    LIVES_OUTSIDE = "lives_outside"  # 5号
    DISASTER = "disaster"  # 6号

    @property
    def ja(self) -> str:
        return OATH_LABELS[self][0]

    @property
    def article(self) -> str:
        return OATH_LABELS[self][1]


OATH_LABELS: dict[OathReason, tuple[str, str]] = {
    OathReason.WORK: ("仕事・用務に従事", "1号: 職務若しくは業務又は総務省令で定める用務に従事すること"),
    OathReason.TRAVEL: ("旅行・用務・事故で区域外に滞在",
                        "2号: 用務又は事故のため投票区の区域外に旅行又は滞在をすること"),
    OathReason.ILLNESS: ("疾病・負傷・妊娠・身体の障害等で歩行困難",
                         "3号: 疾病、負傷、妊娠、老衰、身体の障害、産褥のため歩行が困難であること又は刑事施設等に収容されていること"),
    OathReason.REMOTE_AREA: ("交通至難の島等に居住・滞在", "4号: 交通至難の島その他の地で総務省令で定める地域に居住又は滞在をすること"),
    OathReason.LIVES_OUTSIDE: ("市区町村外の住所に居住", "5号: その属する投票区のある市町村の区域外の住所に居住していること"),
    OathReason.DISASTER: ("天災・悪天候で投票所に行くのが困難", "6号: 天災又は悪天候により投票所に到達することが困難であること"),
}


def parse_oath_reason(text: str) -> OathReason:
    """A code (``work``), a 号 number (``1``, ``1号``) or the Japanese label → the reason."""
    t = unicodedata.normalize("NFKC", text).strip()
    for r in OathReason:
        if t in (r.value, r.ja, f"{list(OathReason).index(r) + 1}", f"{list(OathReason).index(r) + 1}号"):
            return r
    choices = "、".join(f"{i}号 {r.ja}（{r.value}）" for i, r in enumerate(OathReason, 1))
    raise OathReasonInvalid(f"宣誓書の事由が読めません: {text!r}。次のいずれかです: {choices}")


def checkin_marks(station: Station, *, oath_reason: str | None = None, proxy: bool = False,
                  braille: bool = False, require_oath: bool = True) -> dict[str, Any]:
    """The marks of one check-in, validated for this station: the dict to pass to
    ``Terminal.checkin(..., marks)``. Early stations require a 宣誓書事由 (the kiosk always;
    ``require_oath=False`` lets a rehearsal CLI omit it); others refuse one."""
    marks: dict[str, Any] = {}
    if station.kind is StationKind.EARLY:
        if oath_reason:
            marks["oath_reason"] = parse_oath_reason(oath_reason).value
        elif require_oath:
            raise OathReasonRequired("期日前投票では宣誓書の事由を選んでください（宣誓書の用紙が正式の記録です）")
    elif oath_reason:
        raise OathReasonInvalid(f"{station.kind.ja}では宣誓書を使いません（期日前投票所だけです）")
    if proxy:
        marks["proxy"] = True  # 代理投票 (公職選挙法 48条)
    if braille:
        marks["braille"] = True  # 点字投票 (公職選挙法 47条)
    return marks


# ---------------------------------------------------------------------------------------------
# station open / close for the day

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
    """Called first by every check-in path: a station closed by its supervisor refuses."""
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


def _append(term: Terminal, kind: EventKind, data: dict[str, Any]) -> Event:
    with term.store.atomic() as conn:
        return journal.append(term.store, conn, kind, data, term.hlc)


def open_station_day(term: Terminal, clerk: str) -> DayState:
    """開設 (or reopen after closing): a ``station`` ``open`` entry."""
    if day_state(term.store).state == "open":
        raise UsageError("投票所はすでに開設されています", code="station_state")
    _append(term, EventKind.STATION, {"action": "open", "clerk": _short(clerk, "担当者ID")})
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
                                    "clerk": _short(clerk, "担当者ID")}
            if rec is not None:
                data["received"] = rec
            journal.append(term.store, conn, EventKind.COUNT, data, term.hlc)
        journal.append(term.store, conn, EventKind.STATION, {"action": "close", "clerk": _short(clerk, "担当者ID")},
                       term.hlc)
    return closing_figures(term.config, term.station, _events(term.store), now.date())


def station_figures(term: Terminal, day: date | None = None) -> ClosingFigures:
    return closing_figures(term.config, term.station, _events(term.store), day or term.clock.now().date())


def _short(text: str, what: str) -> str:
    t = text.strip()
    if not t or len(t) > MAX_STR:
        raise UsageError(f"{what}を 1〜{MAX_STR} 文字で入力してください", code="usage")
    return t


# ---------------------------------------------------------------------------------------------
# opening check

@dataclass(frozen=True)
class VersionInfo:
    election_id: str
    contests: tuple[str, ...] | None  # None: not known (HQ does not send it yet)
    roll_version: int | None  # None: no roll installed / not known
    # 在外選挙人名簿. Terminal: the installed version (None: none). HQ: its published version from
    # WELCOME ``zaigai`` (0: none published; None: not known, an HQ that does not send it).
    zaigai_version: int | None = None
    # Terminal only: this station must hold HQ's 在外 roll (an early station takes 在外選挙人).
    zaigai_required: bool = False


@dataclass(frozen=True)
class OpeningCheck:
    """``ok`` (green), ``mismatch`` (red: names both), or ``unchecked`` (amber: HQ unreachable)."""

    status: str
    local: VersionInfo
    hq: VersionInfo | None
    problems: tuple[str, ...] = ()  # Japanese, one per mismatch
    codes: tuple[str, ...] = ()  # election_mismatch | contests_mismatch | roll_version_mismatch |
    #                                zaigai_version_mismatch | no_roll

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def text(self) -> str:
        lv = self.local
        head = {"ok": "✓ 開設前の確認: 本部と一致しています",
                "mismatch": "× 開設前の確認: 本部と一致しません — 開設せず選挙管理委員会に連絡してください",
                "unchecked": "！ 開設前の確認: 本部に接続できないため照合できていません（接続後に再確認してください）"}[self.status]
        zaigai = lv.zaigai_required or bool(lv.zaigai_version) or "zaigai_version_mismatch" in self.codes
        lines = [head, f"  この端末: 選挙 {lv.election_id}  選挙数 {len(lv.contests or ())}  "
                       f"名簿 {_v(lv.roll_version)}" + (f"  在外選挙人名簿 {_v(lv.zaigai_version)}" if zaigai else "")]
        if self.hq is not None:
            hz = self.hq.zaigai_version
            lines.append(f"  本部:     選挙 {self.hq.election_id}  "
                         f"選挙数 {'—' if self.hq.contests is None else len(self.hq.contests)}  名簿 {_v(self.hq.roll_version)}"
                         + (f"  在外選挙人名簿 {'—' if hz is None else _v(hz)}" if zaigai else ""))
        lines += [f"  × {p}" for p in self.problems]
        return "\n".join(lines)


def _v(version: int | None) -> str:
    return "未導入" if not version else f"第{version}版"


def local_versions(term: Terminal) -> VersionInfo:
    rv = term.store.get_meta("roll_version")
    return VersionInfo(term.config.election_id, tuple(term.config.contest_ids), int(rv) if rv else None,
                       installed_zaigai_version(term.store), term.station.kind is StationKind.EARLY)


def opening_check(local: VersionInfo, hq: VersionInfo | None, *, refused: str | None = None) -> OpeningCheck:
    """Pure: compare the terminal's election, contests and roll version with HQ's.

    ``hq`` None means HQ was not reached (``refused`` names HQ's refusal code when it refused us;
    ``other_election`` is a mismatch of the election itself)."""
    if refused == "other_election":
        return OpeningCheck("mismatch", local, hq, (f"本部はこの端末の選挙（{local.election_id}）を扱っていません",),
                            ("election_mismatch",))
    problems: list[str] = []
    codes: list[str] = []
    if not local.roll_version:
        problems.append("この端末に名簿が導入されていません")
        codes.append("no_roll")
    if hq is None:
        if problems:
            return OpeningCheck("mismatch", local, None, tuple(problems), tuple(codes))
        return OpeningCheck("unchecked", local, None)
    if hq.election_id != local.election_id:
        problems.append(f"選挙が違います（この端末: {local.election_id}、本部: {hq.election_id}）")
        codes.append("election_mismatch")
    if hq.contests is not None and local.contests is not None and tuple(hq.contests) != tuple(local.contests):
        problems.append(f"選挙の組合せが違います（この端末: {'・'.join(local.contests)}、本部: {'・'.join(hq.contests)}）")
        codes.append("contests_mismatch")
    if local.roll_version and hq.roll_version != local.roll_version:
        problems.append(f"名簿の版が違います（この端末: {_v(local.roll_version)}、本部: {_v(hq.roll_version)}）")
        codes.append("roll_version_mismatch")
    # 在外選挙人名簿: compared when HQ says its version, at a station that needs it (early) or holds
    # one (a designated station learns it is designated from the package itself). A station that
    # holds none while HQ published none (0) is in agreement.
    if hq.zaigai_version is not None and (local.zaigai_required or local.zaigai_version) \
            and (local.zaigai_version or 0) != hq.zaigai_version:
        problems.append(f"在外選挙人名簿の版が違います（この端末: {_v(local.zaigai_version)}、本部: {_v(hq.zaigai_version)}）")
        codes.append("zaigai_version_mismatch")
    return OpeningCheck("mismatch" if problems else "ok", local, hq, tuple(problems), tuple(codes))


# ---------------------------------------------------------------------------------------------
# 仮投票 (公職選挙法 50条)

class TentativeReason(str, Enum):
    SUPERVISOR_REFUSAL = "supervisor_refusal"  # 投票管理者が本人と認められないとして拒否 (50条2項)
    WITNESS_OBJECTION = "witness_objection"  # 投票立会人の異議 (50条2項)
    CLAIMS_NOT_VOTED = "claims_not_voted"  # 投票済とされた選挙人の申立て (50条3項・4項)

    @property
    def ja(self) -> str:
        return {"supervisor_refusal": "管理者拒否", "witness_objection": "立会人異議",
                "claims_not_voted": "投票済の申立て"}[self.value]


def parse_tentative_reason(text: str) -> TentativeReason:
    t = text.strip()
    for r in TentativeReason:
        if t in (r.value, r.ja):
            return r
    raise TentativeInvalid(f"仮投票の理由が読めません: {text!r}（"
                           + "、".join(f"{r.ja}={r.value}" for r in TentativeReason) + "）")


@dataclass(frozen=True)
class Declared:
    """A voter as they declare themselves when not identified on the roll."""

    name: str
    birth_date: date | None = None
    address: str = ""


@dataclass(frozen=True)
class TentativeRecord:
    seq: int
    at: datetime
    voter: str  # voter id, or "?" when declared only
    declared: Declared | None
    contests: tuple[str, ...]
    reason: TentativeReason
    decided_by: str

    def text(self, config: ElectionConfig) -> str:
        names = "、".join(config.contest(c).name for c in self.contests)
        who = (f"選挙人番号 {self.voter}" if self.declared is None
               else f"申立てによる選挙人 {self.declared.name}"
                    + (f"（{self.declared.birth_date:%Y年%m月%d日}生）" if self.declared.birth_date else ""))
        return (f"仮投票を記録しました（記録番号 {self.seq}、{self.at:%m月%d日 %H:%M}）\n"
                f"  {who}\n  理由: {self.reason.ja}  決定: {self.decided_by}\n  選挙: {names}\n"
                "  投票用紙は封筒に入れ封をし、表に氏名を記載させてください。"
                "受理・不受理は開票管理者が決定します。通常の受付ではありません。")


def record_tentative(term: Terminal, *, contests: Sequence[str], reason: str, decided_by: str, clerk: str,
                     voter_id: str | None = None, declared: Declared | None = None, note: str = "") -> TentativeRecord:
    """Record one 仮投票. Exactly one of ``voter_id`` (on the roll) or ``declared`` is given.
    Never a check-in: the ``voted`` table is not touched and HQ does not count it as a ballot."""
    r = parse_tentative_reason(reason)
    if (voter_id is None) == (declared is None):
        raise TentativeInvalid("選挙人は名簿の番号か、申立ての氏名のどちらか一方で指定してください")
    cs = list(dict.fromkeys(c.strip() for c in contests if c.strip()))
    if not cs:
        raise TentativeInvalid("仮投票の対象の選挙を一つ以上選んでください")
    unknown = [c for c in cs if c not in term.config.contest_ids]
    if unknown:
        raise TentativeInvalid(f"選挙 {', '.join(unknown)} はこの選挙にありません")
    data: dict[str, Any] = {"station": term.station.station_id, "contests": cs, "reason": r.value,
                            "decided_by": _short(decided_by, "決定者"), "clerk": _short(clerk, "担当者ID")}
    if voter_id is not None:
        vid = voter_id.strip()
        if vid.startswith(ZAIGAI_PREFIX):
            _zaigai_row(term.store, vid[len(ZAIGAI_PREFIX):])
        else:
            term.voter(vid)  # NotFound: declare the voter instead
        data["voter"] = vid
    else:
        assert declared is not None
        data["voter"] = DECLARED_VOTER
        data["declared_name"] = _short(declared.name, "申立ての氏名")
        if declared.birth_date is not None:
            data["declared_birth"] = declared.birth_date.isoformat()
        if declared.address.strip():
            data["declared_address"] = declared.address.strip()[:MAX_STR]
    if note.strip():
        data["note"] = note.strip()[:MAX_STR]
    ensure_accepting(term.store)
    ev = _append(term, EventKind.TENTATIVE, data)
    return TentativeRecord(ev.seq, hlc_to_jst(ev.hlc), str(data["voter"]), declared, tuple(cs), r,
                           str(data["decided_by"]))


# ---------------------------------------------------------------------------------------------
# 不在者投票 notices from HQ (state per voter and contest) and the warning shown at check-in

ABSENTEE_STATES = ("requested", "issued", "received", "accepted", "rejected", "returned")
ABSENTEE_STATE_JA = {"requested": "請求済", "issued": "用紙交付済", "received": "選管受領済",
                     "accepted": "受理", "rejected": "不受理", "returned": "用紙返還済"}


@dataclass(frozen=True)
class AbsenteeWarning:
    """Warn, never block: the voter holds 不在者投票 papers for these contests."""

    voter: str
    contests: tuple[tuple[str, str], ...]  # (contest, state)
    text: str


def apply_absentee_notice(store: Store, voter: str, contest: str, state: str, hlc: int,
                          conn: sqlite3.Connection | None = None) -> None:
    """Record HQ's latest 不在者投票 state for (voter, contest) (idempotent; later hlc wins)."""
    if state not in ABSENTEE_STATES:
        raise UsageError(f"不在者投票の状態が不正です: {state}", code="absentee_state_invalid")
    ensure_schema(store)
    sql = ("INSERT INTO absentee_notices(voter_id, contest, state, hlc) VALUES(?,?,?,?) "
           "ON CONFLICT(voter_id, contest) DO UPDATE SET state=excluded.state, hlc=excluded.hlc "
           "WHERE excluded.hlc >= absentee_notices.hlc")
    if conn is not None:
        conn.execute(sql, (voter, contest, state, hlc))
        return
    with store.atomic() as c:
        c.execute(sql, (voter, contest, state, hlc))


def absentee_warning(store: Store, config: ElectionConfig, voter_id: str) -> AbsenteeWarning | None:
    """The warning for a voter who holds 不在者投票 papers (issued, or mailed but not yet received)."""
    ensure_schema(store)
    rows = store.conn.execute("SELECT contest, state FROM absentee_notices WHERE voter_id=? ORDER BY contest",
                              (voter_id,)).fetchall()
    held = [(str(c), str(s)) for c, s in rows if s in ("issued", "requested")]
    if not held:
        return None
    order: dict[str, int] = {c: i for i, c in enumerate(config.contest_ids)}
    held.sort(key=lambda x: order.get(x[0], 99))
    names = "、".join(f"{_contest_name(config, c)}（{ABSENTEE_STATE_JA[s]}）" for c, s in held)
    text = (f"！ 不在者投票の用紙を請求・交付済みの方です: {names}\n"
            "  この投票所で投票するときは、未使用の不在者投票用紙・封筒を返還してもらってください。\n"
            "  すでに郵送して選挙管理委員会に届いていない不在者投票は、この投票により不受理となります。\n"
            "  受付はできます（止める必要はありません）。返還を受けたら管理者に伝えてください。")
    return AbsenteeWarning(voter_id, tuple(held), text)


def _contest_name(config: ElectionConfig, c: str) -> str:
    try:
        return config.contest(c).name
    except KeyError:
        return c


# ---------------------------------------------------------------------------------------------
# 在外選挙人名簿

ZAIGAI_VERSION_META = "zaigai_version"
_ZAIGAI_INSERT = "INSERT INTO zaigai_voters VALUES (?,?,?,?,?,?,?,?,?)"


@dataclass(frozen=True)
class ZaigaiInstall:
    version: int
    previous_version: int | None
    voters: int
    designated: tuple[str, ...]
    digest: str


def installed_zaigai_version(store: Store) -> int | None:
    v = store.get_meta(ZAIGAI_VERSION_META)
    return int(v) if v else None


def install_zaigai(store: Store, pkg: ZaigaiPackage, election_id: str) -> ZaigaiInstall:
    """Install a 在外 package that ``zaigaipkg.open_zaigai_package`` verified (signature, format,
    rows) BEFORE the store was opened: the election must be this terminal's and the version newer
    than the installed one (an equal version is refused too); then the roll, its version and the
    designated stations (signed inside the package) replace the old ones in ONE transaction."""
    m = pkg.manifest
    if m.election_id != election_id:
        raise RollRejected(f"別の選挙の在外選挙人名簿です（名簿: {m.election_id}、この端末: {election_id}）。導入していません。",
                           code="zaigai_other_election", roll_election=m.election_id, election=election_id)
    with store.atomic() as c:
        migrate_procedures(c)  # CREATE IF NOT EXISTS: the table exists inside this transaction
        # Re-read inside the write transaction: two installs cannot interleave.
        meta = dict(c.execute("SELECT key, value FROM meta WHERE key IN ('election_id', ?)", (ZAIGAI_VERSION_META,)))
        if meta.get("election_id", election_id) != election_id:
            raise RollRejected(f"この端末の記録は別の選挙（{meta['election_id']}）のものです。導入していません。",
                               code="zaigai_other_election")
        installed = int(meta[ZAIGAI_VERSION_META]) if meta.get(ZAIGAI_VERSION_META) else None
        if installed is not None and m.version <= installed:
            raise RollRejected(f"古い在外選挙人名簿です（パッケージの版 {m.version}、導入済み {installed}）。導入していません。",
                               code="zaigai_rollback", version=m.version, installed=installed)
        c.execute("DELETE FROM zaigai_voters")
        c.executemany(_ZAIGAI_INSERT, [(v.zaigai_id, v.card_no, v.name, v.kana, v.birth_date.isoformat(), v.sex,
                                        v.last_address, v.country, v.status) for v in pkg.voters])
        for k, val in ((ZAIGAI_VERSION_META, str(m.version)), ("zaigai_digest", m.body_sha256),
                       ("zaigai_manifest", m.encode().decode("utf-8")),
                       (META_ZAIGAI_DESIGNATED, ",".join(pkg.designated))):
            store.set_meta(c, k, val)
    return ZaigaiInstall(m.version, installed, len(pkg.voters), pkg.designated, m.body_sha256)


def _zaigai_row(store: Store, zaigai_id: str) -> ZaigaiVoter:
    ensure_schema(store)
    r = store.conn.execute("SELECT * FROM zaigai_voters WHERE zaigai_id=?", (digits(zaigai_id),)).fetchone()
    if r is None:
        raise NotFound(f"在外選挙人番号 {zaigai_id} は在外選挙人名簿にありません", code="zaigai_not_found")
    return ZaigaiVoter(r[0], r[1], r[2], r[3], date.fromisoformat(r[4]), r[5], r[6], r[7], r[8])


def zaigai_lookup(store: Store, zaigai_id: str) -> ZaigaiVoter:
    """The 在外選挙人 with this 在外選挙人番号 (full-width digits and hyphens accepted); NotFound if absent."""
    return _zaigai_row(store, zaigai_id)


@dataclass(frozen=True)
class ZaigaiCheckin:
    voter: ZaigaiVoter
    seq: int | None
    handed: tuple[str, ...]  # contests whose ballots to hand, in order
    refused: tuple[tuple[str, str], ...]  # (contest, Japanese reason)
    event: Event | None = None

    def text(self, config: ElectionConfig) -> str:
        lines = [f"在外選挙人 {self.voter.name}（{self.voter.kana}）  在外選挙人番号 {self.voter.zaigai_id}  居住国 {self.voter.country}"]
        if self.handed:
            lines.append(f"交付する投票用紙（この順に手渡してください）  受付番号 {self.seq}")
            lines += [f"  {i}. {_contest_name(config, c)}" for i, c in enumerate(self.handed, 1)]
            lines.append("  在外選挙人証に投票済の記載をしてください")
        else:
            lines.append("交付できる投票用紙はありません")
        lines += [f"  × {_contest_name(config, c)}: {why}" for c, why in self.refused]
        return "\n".join(lines)


def zaigai_allowed_here(store: Store, station: Station) -> bool:
    designated = {s for s in (store.get_meta(META_ZAIGAI_DESIGNATED, "") or "").split(",") if s}
    return station.kind is StationKind.EARLY or station.station_id in designated


def zaigai_checkin(term: Terminal, zaigai_id: str, card_no: str, clerk: str,
                   marks: Mapping[str, Any] | None = None) -> ZaigaiCheckin:
    """Check in a 在外選挙人: national contests only, at early or designated stations, after the
    在外選挙人証 number matches. Recorded as a ``checkin`` of voter ``Z:<id>`` with ``zaigai``."""
    ensure_accepting(term.store)
    v = _zaigai_row(term.store, zaigai_id)
    if card_number(card_no) != v.card_no:
        raise ZaigaiRefused("在外選挙人証の番号が名簿と一致しません。在外選挙人証を確認してください", code="zaigai_card_mismatch")
    if v.status != "registered":
        raise ZaigaiRefused("在外選挙人名簿から抹消されています。交付できません", code="not_eligible_deleted")
    if not zaigai_allowed_here(term.store, term.station):
        raise ZaigaiRefused("この投票所では在外選挙人の投票を受け付けません（期日前投票所または指定の投票所へご案内ください）",
                            code="zaigai_station_not_designated")
    now = term.clock.now()
    st = term.station
    extra = dict(marks or {})
    refused: list[tuple[str, str]] = []
    handed: list[str] = []
    with term.store.atomic() as conn:
        known = term.known_voted(v.voter_key, conn)
        for c in term.config.contests:
            cid = c.contest_id
            if c.level is not Level.NATIONAL:
                refused.append((cid, "在外選挙人は国政選挙だけです"))
            elif st.kind is not StationKind.EARLY and now.date() != term.config.election_day:
                refused.append((cid, "この投票所は選挙期日にだけ受け付けます"))
            elif not in_window(st, now):
                refused.append((cid, "受付時間外です"))
            elif ContestId(cid) in known:
                k = known[ContestId(cid)]
                when = f" {k.at:%m月%d日 %H:%M}" if k.at else ""
                refused.append((cid, f"投票済です（投票所 {k.station}{when}）。二重に交付しないでください"))
            elif st.kind is StationKind.EARLY and not (c.early_voting_start <= now.date() <= c.early_voting_end):
                refused.append((cid, "期日前投票の期間外です"))
            else:
                handed.append(cid)
        if not handed:
            return ZaigaiCheckin(v, None, (), tuple(refused))
        ev = journal.append(term.store, conn, EventKind.CHECKIN,
                            {"station": st.station_id, "clerk": _short(clerk, "担当者ID"), "voter": v.voter_key,
                             "contests": handed, "zaigai": True, **extra}, term.hlc)
        conn.executemany("INSERT INTO voted(voter_id, contest, terminal, station, hlc, seq) VALUES(?,?,?,?,?,?)",
                         [(v.voter_key, c, term.terminal_id, st.station_id, ev.hlc, ev.seq) for c in handed])
    return ZaigaiCheckin(v, ev.seq, tuple(handed), tuple(refused), ev)


__all__ = ["OathReason", "OATH_LABELS", "parse_oath_reason", "checkin_marks", "DayState", "day_state",
           "ensure_accepting", "StationClosedForDay", "ClosingFigures", "ContestFigures", "closing_figures",
           "open_station_day", "close_station_day", "station_figures", "VersionInfo", "OpeningCheck",
           "local_versions", "opening_check", "TentativeReason", "parse_tentative_reason", "Declared",
           "TentativeRecord", "record_tentative", "ABSENTEE_STATES", "ABSENTEE_STATE_JA", "AbsenteeWarning",
           "apply_absentee_notice", "absentee_warning", "ZaigaiVoter", "ZAIGAI_COLUMNS", "ZAIGAI_PREFIX", "parse_zaigai_csv",
           "install_zaigai", "installed_zaigai_version", "ZaigaiInstall",
           "zaigai_checkin", "zaigai_lookup", "zaigai_allowed_here", "ZaigaiCheckin", "migrate_procedures", "ensure_schema"]
