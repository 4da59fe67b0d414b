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

Never imports Kivy. Values handed to presenters are plain frozen dataclasses, defined (with the pure
helpers the fake shares) in ui_kivy/service_values.py and re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from appliance import journal, lookup, procedures
from appliance.terminal import Terminal, check_pin, hlc_to_jst
from ground.errors import NotFound, StationClosed, UsageError
from ground.events import EventKind, decode
from ground.model import ElectionConfig, Station
# the values and pure helpers live in service_values.py; re-exported, so 'from ui_kivy.service import X' holds
from ui_kivy.service_values import (ZAIGAI_NATIONAL_ONLY, BallotLine, CheckinAnswer, CheckinRow, CountRow,
                                    LateAlertInfo, LinkStatus, Outcome, RadioInfo, SearchAnswer, StationReport,
                                    StationState, VotedLine, VoterCard, ZaigaiCard, age_on, answer_lines,
                                    card_of, check_count, counts_from_events, hourly_checkins, interrupted_rows,
                                    line_of, live_checkins, radio_from_snapshot, station_label, zaigai_card,
                                    zaigai_lines, zaigai_voter_card, with_hq_refusals)


META_LAST_SHOWN = "kiosk.last_shown_seq"


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

    def checkin_marks(self, *, oath_reason: str | None = None, proxy: bool = False,
                      braille: bool = False, age_confirmed: str | None = None) -> dict[str, Any]:
        """The marks of one check-in (宣誓書事由, 代理投票, 点字投票, 年齢確認) validated for this station:
        what ``checkin`` and ``zaigai_checkin`` take. Raises ``OathReasonInvalid`` (an unknown 事由, or one
        at a station without 宣誓書), ``UsageError`` ``age_id_invalid`` (an ID kind not in
        ``AGE_ID_KINDS``). A missing 事由 is not refused here: the kiosk asks for it on screen."""
        ...

    async def checkin(self, voter_id: str, clerk: str, marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        """Raises ``StationClosed`` unless the station is open. ``marks``: from ``checkin_marks``,
        recorded on the check-in."""
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

    def checkin_marks(self, *, oath_reason: str | None = None, proxy: bool = False,
                      braille: bool = False, age_confirmed: str | None = None) -> dict[str, Any]:
        return procedures.checkin_marks(self.station, oath_reason=oath_reason, proxy=proxy, braille=braille,
                                        require_oath=False, age_confirmed=age_confirmed)

    async def checkin(self, voter_id: str, clerk: str, marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        if not self.station_state().is_open:
            raise StationClosed("投票所が開設されていません。管理者メニューから開設してください")
        procedures.ensure_accepting(self.term.store)
        local = self.term.checkin(voter_id, clerk, marks)
        card = self.voter_card(voter_id) if local.seq is None else card_of(local.voter, self.now().date())
        if local.seq is None:
            return CheckinAnswer(None, card, answer_lines(self.config, local.decision, {}, False), False)
        contests = [c.contest for c in local.handed]
        refused: dict[str, str] = {}  # HQ refused to count it, and why (試験モードの端末が残っています)
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
            refused = {v.contest: v.code for v in res.verdicts if getattr(v, "code", "")}
            provisional = res.provisional
        return CheckinAnswer(local.seq, card, with_hq_refusals(answer_lines(self.config, local.decision, withheld,
                                                                            provisional), refused), provisional)

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
                                   e.seq in voided, self._kana(e.voter)))
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

    def _kana(self, voter: str) -> str:
        try:
            if voter.startswith(procedures.ZAIGAI_PREFIX):
                return procedures.zaigai_lookup(self.term.store, voter[len(procedures.ZAIGAI_PREFIX):]).kana
            return self.term.voter(voter).name_kana
        except NotFound:
            return ""

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
        check_count(self.config, contest, hour, issued)
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


__all__ = ["Outcome", "VotedLine", "VoterCard", "BallotLine", "CheckinAnswer", "SearchAnswer", "LinkStatus",
           "RadioInfo", "LateAlertInfo", "CheckinRow", "StationState", "CountRow", "KioskService", "ZaigaiCard",
           "StationReport", "META_LAST_SHOWN", "ZAIGAI_NATIONAL_ONLY", "zaigai_card", "zaigai_voter_card", "zaigai_lines", "live_checkins",
           "hourly_checkins", "interrupted_rows",
           "TerminalService", "age_on", "station_label", "card_of", "line_of", "answer_lines",
           "radio_from_snapshot", "counts_from_events"]
