"""What the kiosk's service hands its presenters: plain frozen values, and the pure helpers that
build them, shared by the real ``TerminalService`` (ui_kivy/service.py) and ``FakeKioskService``.

Split from service.py (issue 17) so the interface and the real adapter read apart from the values:
nothing here touches SQLite, a terminal or the sync agent. A 在外選挙人 is shown like any voter
(``zaigai_voter_card``: 居住国 in place of the address); 名簿対照数 per contest is ballots of
``checkin`` entries minus those ``withheld`` minus those of ``void``ed check-ins, counted by
``counts_from_events`` from a list of events, whoever keeps the journal.

Never imports Kivy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from appliance import lookup, procedures
from appliance.eligibility import Code, ContestDecision, Decision
from appliance.terminal import hlc_to_jst
from appliance.birthdate import birth_wareki
from appliance.wareki import to_wareki
from ground.birthdate import BirthDate
from ground.errors import UsageError
from ground.events import EventKind
from ground.model import ElectionConfig, Level, Voter

# --- values the presenters see --------------------------------------------------------------

class Outcome(str, Enum):
    """What the poll worker does with one contest's ballot."""

    HAND = "hand"  # 交付する (HQ confirmed)
    HAND_OFFLINE = "hand_offline"  # 交付する, オフライン受付 (no verdict: link down)
    ALREADY_VOTED = "already_voted"  # 投票済: 交付しない
    REFUSED = "refused"  # 対象外: 交付しない

    @property
    def hand(self) -> bool:
        return self in (Outcome.HAND, Outcome.HAND_OFFLINE)


@dataclass(frozen=True)
class VotedLine:
    contest: str
    contest_name: str
    where: str  # station name, or 不在者投票
    at: datetime | None


@dataclass(frozen=True)
class VoterCard:
    voter_id: str
    name: str
    kana: str
    birth_date: date | None  # None when the 生年月日 is partly 不詳 (birth_wareki says which part)
    birth_wareki: str
    age: int | None  # None when a 不詳 birth date leaves it open
    sex_ja: str
    address: str
    district: int
    status_ja: str
    voted: tuple[VotedLine, ...] = ()
    birth: BirthDate | None = None  # the 生年月日 as registered, 不詳 parts included (None: not known here)


@dataclass(frozen=True)
class BallotLine:
    contest: str
    name: str
    outcome: Outcome
    code: str  # eligibility code (appliance.eligibility.Code value) or "already_voted"
    reason: str = ""  # Japanese, for the ballots not handed
    where: str = ""  # 投票済: where the ballot was handed
    at: datetime | None = None  # 投票済: when
    note: str = ""  # a note to check before handing (転出の証明 …)


@dataclass(frozen=True)
class CheckinAnswer:
    seq: int | None  # None: nothing handed, nothing recorded
    voter: VoterCard
    lines: tuple[BallotLine, ...]  # every contest, in hand-out order
    provisional: bool


@dataclass(frozen=True)
class SearchAnswer:
    cards: tuple[VoterCard, ...]
    truncated: bool


@dataclass(frozen=True)
class LinkStatus:
    online: bool
    pending: int  # journal entries HQ has not acknowledged
    last_sync: datetime | None
    refused: str | None = None
    hq: str = ""


@dataclass(frozen=True)
class RadioInfo:
    name: str
    registered: bool
    bars: int  # 0..4
    carrier: str | None
    closed_apn_ok: bool | None = None  # None: not known


@dataclass(frozen=True)
class LateAlertInfo:
    seq: int
    contest: str
    contest_name: str
    voter_name: str
    where: str
    at: datetime | None


@dataclass(frozen=True)
class CheckinRow:
    seq: int
    at: datetime
    voter_id: str
    name: str
    contest_names: tuple[str, ...]
    voided: bool
    kana: str = ""  # the voter's カナ, shown after a name with 外字 (ground.names.display_name)


@dataclass(frozen=True)
class StationState:
    state: str  # never | open | closed
    at: datetime | None = None
    clerk: str = ""

    @property
    def is_open(self) -> bool:
        return self.state == "open"


@dataclass(frozen=True)
class CountRow:
    contest: str
    name: str
    recorded: int  # 名簿対照数
    issued: int | None  # 交付数 last entered (None: not yet)
    hour: int | None

    @property
    def diff(self) -> int | None:
        return None if self.issued is None else self.issued - self.recorded


@dataclass(frozen=True)
class ZaigaiCard:
    """A voter of the 在外選挙人名簿 as the kiosk shows them (no 在外選挙人証番号: that is typed)."""

    zaigai_id: str
    name: str
    kana: str
    birth_date: date
    birth_wareki: str
    age: int
    country: str
    last_address: str
    registered: bool

    @property
    def voter_key(self) -> str:
        return procedures.ZAIGAI_PREFIX + self.zaigai_id


@dataclass(frozen=True)
class StationReport:
    """報告: the day's figures so far, check-ins by hour, and the link."""

    figures: procedures.ClosingFigures
    by_hour: tuple[tuple[int, int], ...]  # (hour, check-ins handing a ballot), hours with any
    link: LinkStatus


# a local contest for a 在外選挙人: expected, so not a reason for the amber 一部のみ交付 screen
ZAIGAI_NATIONAL_ONLY = "zaigai_national_only"


# --- pure helpers shared by the real service and the fake ----------------------------------

def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def station_label(config: ElectionConfig, station_id: str) -> str:
    if station_id == "HQ":
        return "不在者投票（選挙管理委員会）"
    try:
        return config.station(station_id).name
    except KeyError:
        return f"投票所 {station_id}"


def card_of(v: Voter, today: date, voted: Sequence[VotedLine] = (),
            config: ElectionConfig | None = None) -> VoterCard:
    if config is not None:  # the config's contest order, the order ballots are handed
        order: dict[str, int] = {c: i for i, c in enumerate(config.contest_ids)}
        voted = sorted(voted, key=lambda x: order.get(x.contest, len(order)))
    return VoterCard(v.voter_id, v.name, v.name_kana, v.birth_date.as_date(), birth_wareki(v.birth_date),
                     v.birth_date.age_on(today), v.sex.ja, v.address, v.district, lookup.status_ja(v),
                     tuple(voted), v.birth_date)


def line_of(config: ElectionConfig, d: ContestDecision, outcome: Outcome | None = None) -> BallotLine:
    if outcome is None:
        outcome = (Outcome.HAND if d.handed else
                   Outcome.ALREADY_VOTED if d.code is Code.ALREADY_VOTED else Outcome.REFUSED)
    where, at = "", None
    if d.voted is not None:
        where, at = station_label(config, d.voted.station), d.voted.at
    return BallotLine(d.contest, d.name, outcome, d.code.value, d.reason, where, at, d.note)


def answer_lines(config: ElectionConfig, decision: Decision, withheld: dict[str, tuple[str, datetime | None]],
                 provisional: bool) -> tuple[BallotLine, ...]:
    """Every contest after HQ's verdict: ``withheld`` maps contest → (where, when) HQ named."""
    out = []
    for d in decision.contests:
        if d.handed and d.contest in withheld:
            where, at = withheld[d.contest]
            when = f" {at:%m月%d日 %H:%M}" if at else ""
            out.append(BallotLine(d.contest, d.name, Outcome.ALREADY_VOTED, Code.ALREADY_VOTED.value,
                                  f"{d.name}の投票用紙は交付済みです（{where}{when}）。交付しないでください",
                                  where, at))
        elif d.handed:
            out.append(line_of(config, d, Outcome.HAND_OFFLINE if provisional else Outcome.HAND))
        else:
            out.append(line_of(config, d))
    return tuple(out)


# HQ refused to count a check-in and said why (sync verdict "R", sync_protocol/session.py)
HQ_REFUSAL_JA = {
    "station_in_rehearsal": "試験モードの端末が残っています。本番の受付はできません。"
                            "投票用紙を交付せず、端末の試験モードを終了してから本部に連絡してください",
}


def with_hq_refusals(lines: Sequence[BallotLine], refused: Mapping[str, str]) -> tuple[BallotLine, ...]:
    """``refused``: contest → HQ's refusal code. Those contests are not handed and are not 投票済
    either: the line says why, in Japanese (試験モードの端末が残っています)."""
    return tuple(BallotLine(ln.contest, ln.name, Outcome.REFUSED, refused[ln.contest],
                            HQ_REFUSAL_JA.get(refused[ln.contest], "本部が受付を認めませんでした。投票用紙を交付せず、本部に連絡してください"))
                 if ln.contest in refused else ln for ln in lines)


def zaigai_card(v: procedures.ZaigaiVoter, today: date) -> ZaigaiCard:
    return ZaigaiCard(v.zaigai_id, v.name, v.kana, v.birth_date, to_wareki(v.birth_date), age_on(v.birth_date, today),
                      v.country, v.last_address, v.status == "registered")


def zaigai_voter_card(c: ZaigaiCard) -> VoterCard:
    """The result screens show a 在外選挙人 like any voter: 居住国 in place of the address."""
    return VoterCard(c.voter_key, c.name, c.kana, c.birth_date, c.birth_wareki, c.age, "", f"居住国 {c.country}", 0,
                     "在外選挙人")


def zaigai_lines(config: ElectionConfig, handed: Sequence[str], refused: Sequence[tuple[str, str]],
                 known_before: Mapping[str, tuple[str, datetime | None]],
                 withheld: Mapping[str, tuple[str, datetime | None]], provisional: bool) -> tuple[BallotLine, ...]:
    """Every contest of a 在外選挙人 check-in, in hand-out order. ``known_before``: contest → (where,
    when) already handed before this check-in (投票済); ``withheld``: HQ's ALREADY_VOTED verdicts."""
    why = dict(refused)
    out = []
    for c in config.contests:
        cid = c.contest_id
        if cid in withheld:
            where, at = withheld[cid]
            out.append(BallotLine(cid, c.name, Outcome.ALREADY_VOTED, Code.ALREADY_VOTED.value,
                                  f"{c.name}の投票用紙は交付済みです。交付しないでください", where, at))
        elif cid in handed:
            out.append(BallotLine(cid, c.name, Outcome.HAND_OFFLINE if provisional else Outcome.HAND, "ok"))
        elif cid in known_before:
            where, at = known_before[cid]
            out.append(BallotLine(cid, c.name, Outcome.ALREADY_VOTED, Code.ALREADY_VOTED.value, why.get(cid, ""),
                                  where, at))
        else:
            code = ZAIGAI_NATIONAL_ONLY if c.level is not Level.NATIONAL else "zaigai_refused"
            out.append(BallotLine(cid, c.name, Outcome.REFUSED, code, why.get(cid, "交付できません")))
    return tuple(out)


def live_checkins(events: Sequence[Any]) -> dict[int, Any]:
    """Check-in entries still handing at least one ballot (not voided, not wholly withheld)."""
    handed: dict[int, set[str]] = {}
    evs: dict[int, Any] = {}
    for e in events:
        if e.kind is EventKind.CHECKIN:
            handed[e.seq] = set(e.contests)
            evs[e.seq] = e
        elif e.kind is EventKind.WITHHELD and e.ref in handed:
            handed[e.ref] -= set(e.contests)
        elif e.kind is EventKind.VOID:
            handed.pop(e.ref, None)
    return {s: evs[s] for s, cs in handed.items() if cs}


def hourly_checkins(events: Sequence[Any], day: date) -> tuple[tuple[int, int], ...]:
    """Check-ins (voters handed a ballot) per hour of ``day``."""
    hours: dict[int, int] = {}
    for e in live_checkins(events).values():
        at = hlc_to_jst(e.hlc)
        if at.date() == day:
            hours[at.hour] = hours.get(at.hour, 0) + 1
    return tuple(sorted(hours.items()))


def interrupted_rows(rows: Sequence[CheckinRow], mark: int) -> list[CheckinRow]:
    return sorted((r for r in rows if r.seq > mark and not r.voided), key=lambda r: r.seq)


def radio_from_snapshot(snapshot: Any) -> list[RadioInfo]:
    """``hardware.rig.HardwareSnapshot`` → what the status bar shows (duck-typed on purpose)."""
    out = []
    for m in snapshot.modems:
        if snapshot.active_modem not in (None, m.name):
            continue
        apn = m.apn_check.value
        out.append(RadioInfo(m.name, m.registered, m.bars, m.carrier, None if apn == "unknown" else apn == "ok"))
    return out


def check_count(config: ElectionConfig, contest: str, hour: int, issued: int) -> None:
    if contest not in config.contest_ids:
        raise UsageError(f"選挙 {contest} はこの選挙にありません", code="contest_unknown")
    if not 0 <= hour <= 23:
        raise UsageError(f"時刻（時）が不正です: {hour}", code="hour_invalid")
    if not 0 <= issued <= 1_000_000:
        raise UsageError(f"交付数が不正です: {issued}", code="issued_invalid")


def counts_from_events(config: ElectionConfig, events: Sequence[Any]) -> list[CountRow]:
    """名簿対照数 per contest (checkins − withheld − voided) and the last 交付数 entered."""
    handed: dict[int, set[str]] = {}
    last: dict[str, tuple[int, int]] = {}
    for e in events:
        if e.kind is EventKind.CHECKIN:
            handed[e.seq] = set(e.contests)
        elif e.kind is EventKind.WITHHELD and e.ref in handed:
            handed[e.ref] -= set(e.contests)
        elif e.kind is EventKind.VOID:
            handed.pop(e.ref, None)
        elif e.kind is EventKind.COUNT:
            last[str(e.data["contest"])] = (int(e.data["hour"]), int(e.data["issued"]))
    rows = []
    for c in config.contests:
        n = sum(1 for cs in handed.values() if c.contest_id in cs)
        h, i = last.get(c.contest_id, (None, None))
        rows.append(CountRow(c.contest_id, c.name, n, i, h))
    return rows


__all__ = ["Outcome", "VotedLine", "VoterCard", "BallotLine", "CheckinAnswer", "SearchAnswer", "LinkStatus",
           "RadioInfo", "LateAlertInfo", "CheckinRow", "StationState", "CountRow", "ZaigaiCard", "StationReport",
           "ZAIGAI_NATIONAL_ONLY", "age_on", "station_label", "card_of", "line_of", "answer_lines", "zaigai_card",
           "zaigai_voter_card", "zaigai_lines", "live_checkins", "hourly_checkins", "interrupted_rows",
           "radio_from_snapshot", "check_count", "counts_from_events"]
