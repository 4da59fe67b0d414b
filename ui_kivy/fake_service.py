"""An in-memory ``KioskService`` for presenter tests and screenshots, with a simulated HQ.

It decides eligibility with the real pure rules (appliance.eligibility.decide), parses barcodes
and kana with the real parsers, and keeps a list of real ``Event`` values as its journal so that
名簿対照数 is computed by the same function as the real service. The contract suite
(tests/unit/ui_kivy/test_service_contract.py) runs the same scenario against this fake and
``TerminalService``.

HQ is simulated by ``online`` (verdicts arrive) and ``hq_voted`` (ballots HQ knows were handed
elsewhere, which the terminal has not heard of yet: HQ answers ALREADY_VOTED and the ballot is
withheld). ``push_late_alert`` plays a late ALREADY_VOTED verdict. Never imports Kivy or SQLite.
"""

from __future__ import annotations


from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from appliance import procedures as P

from ground.barcode import parse_barcode
from ground.clock import Clock
from appliance.eligibility import VotedInfo, decide
from ground.errors import NotFound, StationClosed, UsageError
from ground.events import Event, EventKind
from appliance.kana import is_valid_kana, kana_key
from appliance.lookup import MAX_RESULTS
from appliance.terminal import hlc_to_jst
from appliance.zaigaipkg import card_number, digits
from ground.model import ContestId, ElectionConfig, Station, StationKind, TerminalId, Voter
from ui_kivy.service_values import (BallotLine, CheckinAnswer, CheckinRow, CountRow, LateAlertInfo, LinkStatus,
                                    SearchAnswer, StationReport, StationState, VoterCard, VotedLine, ZaigaiCard,
                                    answer_lines, card_of, check_count, counts_from_events, hourly_checkins,
                                    interrupted_rows, line_of, station_label, zaigai_card, zaigai_lines,
                                    zaigai_voter_card)


@dataclass
class FakeKioskService:
    config: ElectionConfig
    station: Station
    voters: list[Voter]
    clock: Clock
    pin: str = "1234"
    online: bool = True
    terminal: str = "T01"
    hq_voted: dict[tuple[str, str], VotedInfo] = field(default_factory=dict)
    voted: dict[tuple[str, str], VotedInfo] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    pending: int = 0
    last_sync: datetime | None = None
    refused: str | None = None
    checkin_calls: int = 0
    roll_version: int | None = 1
    hq_roll_version: int | None = None  # None: HQ's versions not heard (opening check unchecked)
    absentee: dict[tuple[str, str], str] = field(default_factory=dict)  # (voter, contest) → 不在者 state
    zaigai: list[P.ZaigaiVoter] = field(default_factory=list)  # 在外選挙人名簿
    zaigai_designated: tuple[str, ...] = ()  # stations other than early ones that take 在外選挙人
    zaigai_version: int | None = None  # the installed 在外 package's version (None: none installed)
    hq_zaigai_version: int | None = None  # HQ's published 在外 version (None: not heard)
    meta: dict[str, str] = field(default_factory=dict)  # the store's local meta (never synced)
    _alerts: list[LateAlertInfo] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock.now()

    # -- reads ---------------------------------------------------------------------------------
    def _voter(self, voter_id: str) -> Voter:
        for v in self.voters:
            if v.voter_id == voter_id:
                return v
        raise NotFound(f"選挙人番号 {voter_id} は名簿にありません", voter=voter_id)

    def _known(self, voter_id: str) -> dict[ContestId, VotedInfo]:
        return {ContestId(c): i for (v, c), i in self.voted.items() if v == voter_id}

    def _card(self, v: Voter) -> VoterCard:
        names: dict[str, str] = {c.contest_id: c.name for c in self.config.contests}
        return card_of(v, self.now().date(), [VotedLine(c, names[c], station_label(self.config, i.station), i.at)
                                              for c, i in self._known(v.voter_id).items()], self.config)

    def voter_card(self, voter_id: str) -> VoterCard:
        return self._card(self._voter(voter_id))

    def lookup_barcode(self, raw: str) -> VoterCard:
        vid = parse_barcode(raw, self.config.barcode)
        try:
            return self.voter_card(vid)
        except NotFound:
            raise NotFound("この入場整理券の選挙人は名簿にありません。選挙管理委員会に確認してください") from None

    def search_kana(self, query: str, birth: date | None = None) -> SearchAnswer:
        key = kana_key(query)
        if not key:
            raise UsageError("カナを 1 文字以上入力してください", code="kana_empty")
        if not is_valid_kana(key):
            raise UsageError(f"氏名カナはかな（ひらがな・カタカナ）で入力してください: {query!r}", code="kana_invalid")
        hits = sorted((v for v in self.voters if kana_key(v.name_kana).startswith(key)
                       and (birth is None or v.birth_date.could_be(birth))),
                      key=lambda v: (kana_key(v.name_kana), v.birth_date, v.voter_id))
        return SearchAnswer(tuple(self._card(v) for v in hits[:MAX_RESULTS]), len(hits) > MAX_RESULTS)

    def audit_lookup(self, voter_ids: list[str], via: str, clerk: str) -> None:
        if via not in ("scan", "search"):
            raise UsageError(f"検索の種別が不正です: {via!r}（scan / search）", code="usage")
        for v in voter_ids:
            self._append(EventKind.LOOKUP, {"voter": v, "via": via, "clerk": clerk})

    def preview(self, voter_id: str) -> tuple[BallotLine, ...]:
        d = decide(self.config, self.station, self._voter(voter_id), self.now(), self._known(voter_id))
        return tuple(line_of(self.config, c) for c in d.contests)

    # -- writes --------------------------------------------------------------------------------
    def _append(self, kind: EventKind, data: dict[str, object]) -> Event:
        ev = Event(kind, len(self.events) + 1, int(self.now().timestamp() * 1000) << 16, TerminalId(self.terminal),
                   dict(data))
        self.events.append(ev)
        self.pending += 1
        return ev

    def checkin_marks(self, *, oath_reason: str | None = None, proxy: bool = False,
                      braille: bool = False, age_confirmed: str | None = None) -> dict[str, Any]:
        """The real rules (pure): 宣誓書事由 only at early stations, and one the law names."""
        return P.checkin_marks(self.station, oath_reason=oath_reason, proxy=proxy, braille=braille,
                               require_oath=False, age_confirmed=age_confirmed)

    async def checkin(self, voter_id: str, clerk: str, marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        if not self.station_state().is_open:
            raise StationClosed("投票所が開設されていません。管理者メニューから開設してください")
        extra = {k: v for k, v in (marks or {}).items() if v is not False and v != ""}
        if not set(extra) <= {"oath_reason", "proxy", "braille", "age_confirmed"}:
            raise UsageError(f"受付の付記が不正です: {sorted(extra)}（proxy / braille / oath_reason / age_confirmed）",
                             code="marks_invalid")
        self.checkin_calls += 1
        v = self._voter(voter_id)
        d = decide(self.config, self.station, v, self.now(), self._known(voter_id))
        if d.needs_age_confirm and "age_confirmed" in extra:  # as Terminal.checkin: decided again, recorded
            d = decide(self.config, self.station, v, self.now(), self._known(voter_id), age_confirmed=True)
        else:
            extra.pop("age_confirmed", None)
        if not d.handed:
            return CheckinAnswer(None, self._card(v), answer_lines(self.config, d, {}, False), False)
        ev = self._append(EventKind.CHECKIN, {"station": self.station.station_id, "clerk": clerk,
                                              "voter": voter_id, "contests": [c.contest for c in d.handed],
                                              **extra})
        withheld = self._hq_verdict(ev, voter_id, [c.contest for c in d.handed])
        card = card_of(v, self.now().date())
        return CheckinAnswer(ev.seq, card, answer_lines(self.config, d, withheld, not self.online), not self.online)

    def void(self, seq: int, reason: str, clerk: str) -> None:
        reason = reason.strip()
        if not reason:
            raise UsageError("取消の理由を入力してください", code="reason_invalid")
        ev = next((e for e in self.events if e.seq == seq), None)
        if ev is None:
            raise NotFound(f"受付記録 {seq} 番はありません", seq=seq)
        if ev.kind is not EventKind.CHECKIN or any(e.kind is EventKind.VOID and e.ref == seq for e in self.events):
            raise UsageError(f"受付記録 {seq} 番は取り消せません", code="void_refused")
        self._append(EventKind.VOID, {"ref": seq, "reason": reason, "clerk": clerk})
        for k, i in list(self.voted.items()):
            if i.seq == seq and i.terminal == self.terminal:
                del self.voted[k]

    def record_tentative(self, *, contests: Sequence[str], reason: str, decided_by: str, clerk: str,
                         voter_id: str | None = None, declared: P.Declared | None = None) -> P.TentativeRecord:
        r = P.parse_tentative_reason(reason)
        if (voter_id is None) == (declared is None):
            raise P.TentativeInvalid("選挙人は名簿の番号か、申立ての氏名のどちらか一方で指定してください")
        cs = list(dict.fromkeys(c.strip() for c in contests if c.strip()))
        if not cs:
            raise P.TentativeInvalid("仮投票の対象の選挙を一つ以上選んでください")
        unknown = [c for c in cs if c not in self.config.contest_ids]
        if unknown:
            raise P.TentativeInvalid(f"選挙 {', '.join(unknown)} はこの選挙にありません")
        if not decided_by.strip():
            raise UsageError("決定者を入力してください", code="usage")
        if voter_id is not None:
            if voter_id.startswith(P.ZAIGAI_PREFIX):
                self._zaigai(voter_id[len(P.ZAIGAI_PREFIX):])
            else:
                self._voter(voter_id)
        if self.station_state().state == "closed":
            raise P.StationClosedForDay("投票所は閉鎖されています。受付できません。再開するときは投票管理者が開設してください")
        who = voter_id if voter_id is not None else P.DECLARED_VOTER
        data: dict[str, object] = {"station": self.station.station_id, "voter": who, "contests": cs,
                                   "reason": r.value, "decided_by": decided_by.strip(), "clerk": clerk}
        if declared is not None:
            if not declared.name.strip():
                raise UsageError("申立ての氏名を 1〜256 文字で入力してください", code="usage")
            data["declared_name"] = declared.name.strip()
            if declared.birth_date is not None:
                data["declared_birth"] = declared.birth_date.isoformat()
        ev = self._append(EventKind.TENTATIVE, data)
        return P.TentativeRecord(ev.seq, self.now(), who, declared, tuple(cs), r, decided_by.strip())

    def absentee_warning(self, voter_id: str) -> P.AbsenteeWarning | None:
        """Same words as appliance.procedures.absentee_warning (the contract test compares them)."""
        order: dict[str, int] = {c: i for i, c in enumerate(self.config.contest_ids)}
        held = sorted(((c, s) for (v, c), s in self.absentee.items() if v == voter_id and s in ("issued", "requested")),
                      key=lambda x: (order.get(x[0], 99), x[0]))
        if not held:
            return None
        names = "、".join(f"{self.config.contest(c).name}（{P.ABSENTEE_STATE_JA[s]}）" for c, s in held)
        text = (f"！ 不在者投票の用紙を請求・交付済みの方です: {names}\n"
                "  この投票所で投票するときは、未使用の不在者投票用紙・封筒を返還してもらってください。\n"
                "  すでに郵送して選挙管理委員会に届いていない不在者投票は、この投票により不受理となります。\n"
                "  受付はできます（止める必要はありません）。返還を受けたら管理者に伝えてください。")
        return P.AbsenteeWarning(voter_id, tuple(held), text)

    def opening_check(self) -> P.OpeningCheck:
        local = P.VersionInfo(self.config.election_id, tuple(self.config.contest_ids), self.roll_version,
                              self.zaigai_version, self.station.kind is StationKind.EARLY)
        hq = None if self.hq_roll_version is None else P.VersionInfo(self.config.election_id, None,
                                                                     self.hq_roll_version, self.hq_zaigai_version)
        return P.opening_check(local, hq)

    def close_day(self, clerk: str,
                  final: Mapping[str, tuple[int | None, int, int]] | None = None) -> P.ClosingFigures:
        if self.station_state().state == "closed":
            raise UsageError("投票所はすでに閉鎖されています", code="station_state")
        for c, (rec, iss, left) in (final or {}).items():
            if c not in self.config.contest_ids:
                raise UsageError(f"選挙 {c} はこの選挙にありません", code="contest_unknown")
            for label, v in (("受領数", rec), ("交付数", iss), ("残数", left)):
                if v is not None and not 0 <= v <= 1_000_000:
                    raise UsageError(f"{label}が不正です: {v}", code="count_invalid")
        for c, (rec, iss, left) in (final or {}).items():
            data: dict[str, object] = {"contest": c, "hour": self.now().hour, "issued": iss, "left": left,
                                       "final": True, "clerk": clerk}
            if rec is not None:
                data["received"] = rec
            self._append(EventKind.COUNT, data)
        self.set_station("close", clerk)
        return P.closing_figures(self.config, self.station, self.events, self.now().date())

    def station_report(self) -> StationReport:
        day = self.now().date()
        return StationReport(P.closing_figures(self.config, self.station, self.events, day),
                             hourly_checkins(self.events, day), self.link_status())

    # -- 在外選挙人 (the same rules as appliance.procedures.zaigai_checkin) -------------------------
    def _zaigai(self, zaigai_id: str) -> P.ZaigaiVoter:
        key = digits(zaigai_id)
        for z in self.zaigai:
            if z.zaigai_id == key:
                return z
        raise NotFound(f"在外選挙人番号 {zaigai_id} は在外選挙人名簿にありません", code="zaigai_not_found")

    def zaigai_allowed(self) -> bool:
        return self.station.kind is StationKind.EARLY or self.station.station_id in self.zaigai_designated

    def zaigai_lookup(self, zaigai_id: str) -> ZaigaiCard:
        return zaigai_card(self._zaigai(zaigai_id), self.now().date())

    async def zaigai_checkin(self, zaigai_id: str, card_no: str, clerk: str,
                             marks: Mapping[str, Any] | None = None) -> CheckinAnswer:
        if not self.station_state().is_open:
            raise StationClosed("投票所が開設されていません。管理者メニューから開設してください")
        z = self._zaigai(zaigai_id)
        if card_number(card_no) != z.card_no:
            raise P.ZaigaiRefused("在外選挙人証の番号が名簿と一致しません。在外選挙人証を確認してください",
                                  code="zaigai_card_mismatch")
        if z.status != "registered":
            raise P.ZaigaiRefused("在外選挙人名簿から抹消されています。交付できません", code="not_eligible_deleted")
        if not self.zaigai_allowed():
            raise P.ZaigaiRefused("この投票所では在外選挙人の投票を受け付けません（期日前投票所または指定の投票所へご案内ください）",
                                  code="zaigai_station_not_designated")
        key, now, st = z.voter_key, self.now(), self.station
        known = self._known(key)
        before = {str(c): (station_label(self.config, i.station), i.at) for c, i in known.items()}
        handed, refused = P.zaigai_contests(self.config, st, known, now)
        card = zaigai_card(z, now.date())
        if not handed:
            return CheckinAnswer(None, zaigai_voter_card(card),
                                 zaigai_lines(self.config, (), refused, before, {}, False), False)
        self.checkin_calls += 1
        ev = self._append(EventKind.CHECKIN, {"station": st.station_id, "clerk": clerk, "voter": key,
                                              "contests": handed, "zaigai": True, **dict(marks or {})})
        withheld = self._hq_verdict(ev, key, handed)
        return CheckinAnswer(ev.seq, zaigai_voter_card(card),
                             zaigai_lines(self.config, handed, refused, before, withheld, not self.online),
                             not self.online)

    def _hq_verdict(self, ev: Event, voter_id: str, handed: Sequence[str]) -> dict[str, tuple[str, datetime | None]]:
        """The simulated HQ: withheld ballots (already handed elsewhere), or オフライン (provisional)."""
        withheld: dict[str, tuple[str, datetime | None]] = {}
        if self.online:
            for c in handed:
                other = self.hq_voted.get((voter_id, c))
                if other is not None:
                    withheld[c] = (station_label(self.config, other.station), other.at)
            if withheld:
                self._append(EventKind.WITHHELD, {"ref": ev.seq, "contests": list(withheld)})
                for cid in withheld:
                    self.voted[(voter_id, cid)] = self.hq_voted[(voter_id, cid)]
            self.pending = 0
            self.last_sync = self.now()
        else:
            self._append(EventKind.PROVISIONAL, {"ref": ev.seq})
        for c in handed:
            if c not in withheld:
                self.voted[(voter_id, c)] = VotedInfo(self.station.station_id, self.terminal, self.now(), ev.seq)
        return withheld

    # -- interrupted check-ins ------------------------------------------------------------------
    def interrupted_checkins(self) -> list[CheckinRow]:
        rows = self.recent_checkins(limit=1_000_000)
        mark = self.meta.get("kiosk.last_shown_seq")
        if mark is None:
            self.mark_shown(max((r.seq for r in rows), default=0))
            return []
        return interrupted_rows(rows, int(mark))

    def mark_shown(self, seq: int) -> None:
        cur = self.meta.get("kiosk.last_shown_seq")
        if cur is None or seq > int(cur):
            self.meta["kiosk.last_shown_seq"] = str(seq)

    def recent_checkins(self, limit: int = 20) -> list[CheckinRow]:
        voided = {e.ref for e in self.events if e.kind is EventKind.VOID}
        withheld: dict[int, set[str]] = {}
        for e in self.events:
            if e.kind is EventKind.WITHHELD:
                withheld.setdefault(e.ref, set()).update(e.contests)
        names: dict[str, str] = {c.contest_id: c.name for c in self.config.contests}
        rows = []
        for e in reversed(self.events):
            if e.kind is EventKind.CHECKIN:
                left = [c for c in e.contests if c not in withheld.get(e.seq, set())]
                if left:
                    rows.append(CheckinRow(e.seq, hlc_to_jst(e.hlc), e.voter, self._name(e.voter),
                                           tuple(names[c] for c in left), e.seq in voided, self._kana(e.voter)))
        return rows[:limit]

    def _kana(self, voter: str) -> str:
        try:
            if voter.startswith(P.ZAIGAI_PREFIX):
                return self._zaigai(voter[len(P.ZAIGAI_PREFIX):]).kana
            return self._voter(voter).name_kana
        except NotFound:
            return ""

    def _name(self, voter: str) -> str:
        try:
            if voter.startswith(P.ZAIGAI_PREFIX):
                return "在外 " + self._zaigai(voter[len(P.ZAIGAI_PREFIX):]).name
            return self._voter(voter).name
        except NotFound:
            return "（名簿にない選挙人）"

    def check_pin(self, pin: str) -> bool:
        return pin == self.pin

    def station_state(self) -> StationState:
        for e in reversed(self.events):
            if e.kind is EventKind.STATION:
                return StationState("open" if e.data["action"] == "open" else "closed", self.now(),
                                    str(e.data.get("clerk", "")))
        return StationState("never")

    def set_station(self, action: str, clerk: str) -> StationState:
        if action not in ("open", "close"):
            raise UsageError(f"開設・閉鎖の指定が不正です: {action}", code="station_action_invalid")
        st = self.station_state().state
        if (action == "open" and st == "open") or (action == "close" and st == "closed"):
            raise UsageError("投票所はすでに開設されています" if action == "open" else "投票所はすでに閉鎖されています",
                             code="station_state")
        self._append(EventKind.STATION, {"action": action, "clerk": clerk})
        return self.station_state()

    def record_count(self, contest: str, hour: int, issued: int, clerk: str) -> None:
        check_count(self.config, contest, hour, issued)
        self._append(EventKind.COUNT, {"contest": contest, "hour": hour, "issued": issued, "clerk": clerk})

    def counts(self) -> list[CountRow]:
        return counts_from_events(self.config, self.events)

    def link_status(self) -> LinkStatus:
        return LinkStatus(self.online, self.pending, self.last_sync, self.refused, self.config.hq_address)

    def push_late_alert(self, seq: int, contest: str, where_station: str, at: datetime | None) -> None:
        ev = next(e for e in self.events if e.seq == seq)
        names: dict[str, str] = {c.contest_id: c.name for c in self.config.contests}
        self._alerts.append(LateAlertInfo(seq, contest, names[contest], self._name(ev.voter),
                                          station_label(self.config, where_station), at))

    def take_late_alerts(self) -> list[LateAlertInfo]:
        out, self._alerts = self._alerts, []
        return out
