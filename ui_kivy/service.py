"""The kiosk's one door to the terminal: ``KioskService`` (a Protocol) and ``TerminalService``.

Presenters call only this interface, so they are tested against ``FakeKioskService``
(ui_kivy/fake_service.py) and the contract suite (tests/unit/ui_kivy/test_service_contract.py)
holds the fake and the real implementation to the same answers.

``TerminalService`` wraps ``appliance.terminal.Terminal`` and, when there is one, the running
``SyncAgent``. Its rules:
- A check-in is recorded by the terminal (fsynced) and HQ's verdict is awaited and recorded
  (withheld / provisional) by the agent BEFORE the answer is returned to the screen (rule 1 and 2).
- With the link down the verdict is not awaited at all (budget 0): the poll worker is told
  オフライン受付 at once instead of after the full budget.
- 開設/閉鎖 go through appliance.procedures (``station`` entries; a closed station refuses
  check-ins). The kiosk is stricter than the CLI: it takes no check-in before a supervisor opened
  the station. 交付数 (``count``) has no verb elsewhere yet: appended here with ``journal.append``
  inside ``store.atomic()``, like every other entry.
- 名簿対照数 per contest is computed from the journal: ballots of ``checkin`` entries minus those
  ``withheld`` minus those of ``void``ed check-ins.
- Every voter shown (the confirm screen, each row of a shown result list) gets a ``lookup`` audit
  entry through ``Terminal.record_lookup`` (personal data, DESIGN rule 6).
- 在外選挙人 check-ins go through ``procedures.zaigai_checkin`` (recorded, fsynced) and then wait
  for HQ's verdict exactly as a roll check-in does.
- After a result was SHOWN the kiosk calls ``mark_shown(seq)``: a local store meta value
  (``kiosk.last_shown_seq``), never in the journal, so never synced. A check-in after that mark
  and not voided was interrupted before its answer was seen (``interrupted_checkins``).

Never imports Kivy. Values handed to presenters are plain frozen dataclasses defined here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from appliance import journal, lookup, procedures
from appliance.eligibility import Code, ContestDecision, Decision
from ground.errors import NotFound, StationClosed, UsageError
from ground.events import EventKind, decode
from ground.model import ElectionConfig, Level, Station, Voter
from appliance.terminal import Terminal, check_pin, hlc_to_jst
from appliance.wareki import to_wareki


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
    birth_date: date
    birth_wareki: str
    age: int
    sex_ja: str
    address: str
    district: int
    status_ja: str
    voted: tuple[VotedLine, ...] = ()


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


META_LAST_SHOWN = "kiosk.last_shown_seq"
# a local contest for a 在外選挙人: expected, so not a reason for the amber 一部のみ交付 screen
ZAIGAI_NATIONAL_ONLY = "zaigai_national_only"


class KioskService(Protocol):
    """What a presenter may ask of the terminal. Every write is durable when the call returns."""

    @property
    def config(self) -> ElectionConfig: ...

    @property
    def station(self) -> Station: ...

    def now(self) -> datetime: ...

    def lookup_barcode(self, raw: str) -> VoterCard:
        """Raises a ``BarcodeInvalid`` subclass (misread, other election) or ``NotFound``."""
        ...

    def voter_card(self, voter_id: str) -> VoterCard:
        """Raises ``NotFound``."""
        ...

    def search_kana(self, query: str, birth: date | None = None) -> SearchAnswer: ...

    def audit_lookup(self, voter_ids: list[str], via: str, clerk: str) -> None:
        """Audit: these roll rows were shown (``via`` scan or search): one ``lookup`` entry each."""
        ...

    def preview(self, voter_id: str) -> tuple[BallotLine, ...]: ...

    async def checkin(self, voter_id: str, clerk: str, marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        """Raises ``StationClosed`` unless the station is open. ``marks``: from
        ``procedures.checkin_marks`` (宣誓書事由, 代理投票, 点字投票), recorded on the check-in."""
        ...

    def record_tentative(self, *, contests: Sequence[str], reason: str, decided_by: str, clerk: str,
                         voter_id: str | None = None,
                         declared: procedures.Declared | None = None) -> procedures.TentativeRecord:
        """仮投票: a ``tentative`` entry, never a check-in (no ballot, nothing in ``voted``)."""
        ...

    def absentee_warning(self, voter_id: str) -> procedures.AbsenteeWarning | None:
        """不在者投票 papers held (HQ's notices): warn, never block."""
        ...

    def opening_check(self) -> procedures.OpeningCheck:
        """The terminal's election, contests and roll version against HQ's (when the link told us)."""
        ...

    def close_day(self, clerk: str,
                  final: Mapping[str, tuple[int | None, int, int]] | None = None) -> procedures.ClosingFigures:
        """閉鎖: stop check-ins and return the station's closing figures. ``final``: contest →
        (受領数, 交付数, 残数), recorded as closing ``count`` entries with the ``close`` entry."""
        ...

    def station_report(self) -> StationReport:
        """報告: the day's figures so far (never closes anything)."""
        ...

    def zaigai_allowed(self) -> bool:
        """在外選挙人 are taken here (early stations and designated ones)."""
        ...

    def zaigai_lookup(self, zaigai_id: str) -> ZaigaiCard:
        """Raises ``NotFound`` (code zaigai_not_found)."""
        ...

    async def zaigai_checkin(self, zaigai_id: str, card_no: str, clerk: str,
                             marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        """Recorded, then HQ's verdict awaited, like ``checkin``. Raises ``StationClosed``,
        ``NotFound`` or ``procedures.ZaigaiRefused`` (card mismatch, 抹消, not designated), changing nothing."""
        ...

    def interrupted_checkins(self) -> list[CheckinRow]:
        """Check-ins after the last shown mark, not voided (oldest first). The first call on a store
        without a mark sets it to the latest check-in (nothing before the kiosk's first start counts)."""
        ...

    def mark_shown(self, seq: int) -> None:
        """The answer to check-in ``seq`` was on screen: a local mark, never synced."""
        ...

    def void(self, seq: int, reason: str, clerk: str) -> None: ...

    def recent_checkins(self, limit: int = 20) -> list[CheckinRow]: ...

    def check_pin(self, pin: str) -> bool: ...

    def station_state(self) -> StationState: ...

    def set_station(self, action: str, clerk: str) -> StationState: ...

    def record_count(self, contest: str, hour: int, issued: int, clerk: str) -> None: ...

    def counts(self) -> list[CountRow]: ...

    def link_status(self) -> LinkStatus: ...

    def take_late_alerts(self) -> list[LateAlertInfo]: ...


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
    return VoterCard(v.voter_id, v.name, v.name_kana, v.birth_date, to_wareki(v.birth_date),
                     age_on(v.birth_date, today), v.sex.ja, v.address, v.district, lookup.status_ja(v),
                     tuple(voted))


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


# --- the real one ---------------------------------------------------------------------------

class TerminalService:
    """``KioskService`` over a ``Terminal`` and (optionally) its running ``SyncAgent``."""

    def __init__(self, terminal: Terminal, agent: Any | None = None) -> None:
        self.term = terminal
        self.agent = agent  # sync_protocol.client.SyncAgent; None = no link at all
        self._alerts_seen = 0

    @property
    def config(self) -> ElectionConfig:
        return self.term.config

    @property
    def station(self) -> Station:
        return self.term.station

    def now(self) -> datetime:
        return self.term.clock.now()

    def _voted_lines(self, voter_id: str) -> list[VotedLine]:
        names: dict[str, str] = {c.contest_id: c.name for c in self.config.contests}
        return [VotedLine(c, names.get(c, c), station_label(self.config, v.station), v.at)
                for c, v in self.term.known_voted(voter_id).items()]

    def voter_card(self, voter_id: str) -> VoterCard:
        v = self.term.voter(voter_id)
        return card_of(v, self.now().date(), self._voted_lines(voter_id), self.config)

    def lookup_barcode(self, raw: str) -> VoterCard:
        res = lookup.by_barcode(self.term.store.conn, raw, self.config.barcode)
        if not res.found:
            raise NotFound("この入場整理券の選挙人は名簿にありません。選挙管理委員会に確認してください")
        return self.voter_card(res.found[0].voter.voter_id)

    def search_kana(self, query: str, birth: date | None = None) -> SearchAnswer:
        res = lookup.by_kana(self.term.store.conn, query, birth)
        today = self.now().date()
        names: dict[str, str] = {c.contest_id: c.name for c in self.config.contests}
        cards = tuple(card_of(f.voter, today, [VotedLine(m.contest, names.get(m.contest, m.contest),
                                                         station_label(self.config, m.station), m.at)
                                               for m in f.voted], self.config) for f in res.found)
        return SearchAnswer(cards, res.truncated)

    def audit_lookup(self, voter_ids: list[str], via: str, clerk: str) -> None:
        self.term.record_lookup(voter_ids, via, clerk)

    def preview(self, voter_id: str) -> tuple[BallotLine, ...]:
        _, d = self.term.decide(voter_id)
        return tuple(line_of(self.config, c) for c in d.contests)

    async def checkin(self, voter_id: str, clerk: str, marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        if not self.station_state().is_open:
            raise StationClosed("投票所が開設されていません。管理者メニューから開設してください")
        procedures.ensure_accepting(self.term.store)
        local = self.term.checkin(voter_id, clerk, marks)
        card = self.voter_card(voter_id) if local.seq is None else card_of(local.voter, self.now().date())
        if local.seq is None:
            return CheckinAnswer(None, card, answer_lines(self.config, local.decision, {}, False), False)
        contests = [c.contest for c in local.handed]
        if self.agent is None:
            self.term.record_provisional(local.seq)
            withheld: dict[str, tuple[str, datetime | None]] = {}
            provisional = True
        else:
            budget = None if self.agent.online.is_set() else 0.0
            res = await self.agent.resolve(local.seq, contests, budget_s=budget)
            by = {v.contest: v for v in res.verdicts}
            withheld = {c: (station_label(self.config, by[c].station) if c in by else "",
                            hlc_to_jst(by[c].hlc) if c in by and by[c].hlc else None) for c in res.withheld}
            provisional = res.provisional
        return CheckinAnswer(local.seq, card, answer_lines(self.config, local.decision, withheld, provisional),
                             provisional)

    def void(self, seq: int, reason: str, clerk: str) -> None:
        self.term.void(seq, reason, clerk)

    def record_tentative(self, *, contests: Sequence[str], reason: str, decided_by: str, clerk: str,
                         voter_id: str | None = None,
                         declared: procedures.Declared | None = None) -> procedures.TentativeRecord:
        return procedures.record_tentative(self.term, contests=contests, reason=reason, decided_by=decided_by,
                                           clerk=clerk, voter_id=voter_id, declared=declared)

    def absentee_warning(self, voter_id: str) -> procedures.AbsenteeWarning | None:
        return procedures.absentee_warning(self.term.store, self.config, voter_id)

    def opening_check(self) -> procedures.OpeningCheck:
        local = procedures.local_versions(self.term)
        if self.agent is None:
            return procedures.opening_check(local, None)
        hq_roll = getattr(self.agent, "hq_roll_version", None)
        refused = getattr(self.agent, "refused", None)
        if hq_roll is None:
            return procedures.opening_check(local, None, refused=refused)
        contests = getattr(self.agent, "hq_contests", None)
        hq = procedures.VersionInfo(self.config.election_id, tuple(contests) if contests is not None else None,
                                    int(hq_roll), getattr(self.agent, "hq_zaigai_version", None))
        return procedures.opening_check(local, hq)

    def close_day(self, clerk: str,
                  final: Mapping[str, tuple[int | None, int, int]] | None = None) -> procedures.ClosingFigures:
        return procedures.close_station_day(self.term, clerk, final)

    def station_report(self) -> StationReport:
        day = self.now().date()
        return StationReport(procedures.station_figures(self.term, day), hourly_checkins(self._events(), day),
                             self.link_status())

    # -- 在外選挙人 ------------------------------------------------------------------------------
    def zaigai_allowed(self) -> bool:
        return procedures.zaigai_allowed_here(self.term.store, self.station)

    def zaigai_lookup(self, zaigai_id: str) -> ZaigaiCard:
        return zaigai_card(procedures.zaigai_lookup(self.term.store, zaigai_id), self.now().date())

    async def zaigai_checkin(self, zaigai_id: str, card_no: str, clerk: str,
                             marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        if not self.station_state().is_open:
            raise StationClosed("投票所が開設されていません。管理者メニューから開設してください")
        card = self.zaigai_lookup(zaigai_id)
        before = {str(c): (station_label(self.config, v.station), v.at)
                  for c, v in self.term.known_voted(card.voter_key).items()}
        got = procedures.zaigai_checkin(self.term, zaigai_id, card_no, clerk, marks)
        withheld: dict[str, tuple[str, datetime | None]] = {}
        provisional = False
        if got.seq is not None:
            if self.agent is None:
                self.term.record_provisional(got.seq)
                provisional = True
            else:
                budget = None if self.agent.online.is_set() else 0.0
                res = await self.agent.resolve(got.seq, list(got.handed), budget_s=budget)
                by = {v.contest: v for v in res.verdicts}
                withheld = {c: (station_label(self.config, by[c].station) if c in by else "",
                                hlc_to_jst(by[c].hlc) if c in by and by[c].hlc else None) for c in res.withheld}
                provisional = res.provisional
        return CheckinAnswer(got.seq, zaigai_voter_card(card),
                             zaigai_lines(self.config, got.handed, got.refused, before, withheld, provisional),
                             provisional)

    # -- interrupted check-ins ------------------------------------------------------------------
    def _last_shown(self) -> int | None:
        v = self.term.store.get_meta(META_LAST_SHOWN)
        return None if v is None else int(v)

    def interrupted_checkins(self) -> list[CheckinRow]:
        rows = self.recent_checkins(limit=1_000_000)
        mark = self._last_shown()
        if mark is None:
            self.mark_shown(max((r.seq for r in rows), default=0))
            return []
        return interrupted_rows(rows, mark)

    def mark_shown(self, seq: int) -> None:
        cur = self._last_shown() or 0
        if seq > cur or self._last_shown() is None:
            with self.term.store.atomic() as c:
                self.term.store.set_meta(c, META_LAST_SHOWN, str(max(seq, cur)))

    def _events(self) -> list[Any]:
        return [decode(bytes(b)) for (b,) in self.term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]

    def recent_checkins(self, limit: int = 20) -> list[CheckinRow]:
        evs = self._events()
        voided = {e.ref for e in evs if e.kind is EventKind.VOID}
        withheld: dict[int, set[str]] = {}
        for e in evs:
            if e.kind is EventKind.WITHHELD:
                withheld.setdefault(e.ref, set()).update(e.contests)
        names: dict[str, str] = {c.contest_id: c.name for c in self.config.contests}
        rows = []
        for e in reversed(evs):
            if e.kind is not EventKind.CHECKIN:
                continue
            left = [c for c in e.contests if c not in withheld.get(e.seq, set())]
            if not left:
                continue  # nothing was handed over: nothing to void
            name = self._name(e.voter)
            rows.append(CheckinRow(e.seq, hlc_to_jst(e.hlc), e.voter, name, tuple(names.get(c, c) for c in left),
                                   e.seq in voided))
            if len(rows) >= limit:
                break
        return rows

    def _name(self, voter: str) -> str:
        try:
            if voter.startswith(procedures.ZAIGAI_PREFIX):
                return "在外 " + procedures.zaigai_lookup(self.term.store, voter[len(procedures.ZAIGAI_PREFIX):]).name
            return self.term.voter(voter).name
        except NotFound:
            return "（名簿にない選挙人）"

    def check_pin(self, pin: str) -> bool:
        return check_pin(self.term.tdir, pin)

    def station_state(self) -> StationState:
        st = procedures.day_state(self.term.store)
        return StationState(st.state, st.at, st.clerk)

    def set_station(self, action: str, clerk: str) -> StationState:
        if action == "open":
            procedures.open_station_day(self.term, clerk)
        elif action == "close":
            procedures.close_station_day(self.term, clerk)
        else:
            raise UsageError(f"開設・閉鎖の指定が不正です: {action}", code="station_action_invalid")
        return self.station_state()

    def record_count(self, contest: str, hour: int, issued: int, clerk: str) -> None:
        _check_count(self.config, contest, hour, issued)
        with self.term.store.atomic() as conn:
            journal.append(self.term.store, conn, EventKind.COUNT,
                           {"contest": contest, "hour": hour, "issued": issued, "clerk": clerk}, self.term.hlc)

    def counts(self) -> list[CountRow]:
        return counts_from_events(self.config, self._events())

    def link_status(self) -> LinkStatus:
        if self.agent is None:
            return LinkStatus(False, journal.head(self.term.store).seq, None, None, "")
        st = self.agent.status()
        last = st.get("last_contact")
        return LinkStatus(bool(st["online"]), int(st["pending"]),
                          datetime.fromtimestamp(last, self.now().tzinfo) if last else None,
                          st.get("refused"), str(st.get("hq", "")))

    def take_late_alerts(self) -> list[LateAlertInfo]:
        if self.agent is None:
            return []
        new = self.agent.late_alerts[self._alerts_seen:]
        self._alerts_seen += len(new)
        names: dict[str, str] = {c.contest_id: c.name for c in self.config.contests}
        out = []
        for a in new:
            ev = journal.entry(self.term.store, a.seq)
            who = self._name(ev.voter) if ev is not None else ""
            out.append(LateAlertInfo(a.seq, a.contest, names.get(a.contest, a.contest), who,
                                     station_label(self.config, a.station), hlc_to_jst(a.hlc) if a.hlc else None))
        return out


def _check_count(config: ElectionConfig, contest: str, hour: int, issued: int) -> None:
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
           "RadioInfo", "LateAlertInfo", "CheckinRow", "StationState", "CountRow", "KioskService", "ZaigaiCard",
           "StationReport", "META_LAST_SHOWN", "ZAIGAI_NATIONAL_ONLY", "zaigai_card", "zaigai_voter_card", "zaigai_lines", "live_checkins",
           "hourly_checkins", "interrupted_rows",
           "TerminalService", "age_on", "station_label", "card_of", "line_of", "answer_lines",
           "radio_from_snapshot", "counts_from_events"]
