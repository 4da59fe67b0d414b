"""Eligibility (投票資格の判定): which ballots a voter may be handed at this station, now.

Pure rules, decided per contest (同日選挙: each contest is its own ballot). ``decide`` answers with
every contest of the election in the config's order (the order a poll worker hands them over):
the ones to hand over, and each refused one with its own stable code and a Japanese reason.

The rules, in the order they are checked for each contest (the first that applies wins):
1. 抹消 → ``not_eligible_deleted``; 表示(失権) → ``not_eligible_lost_rights`` (every contest).
2. The station: ``common``/``day`` only on election day (``not_election_day``); every station only
   inside its open windows, days and hours (``outside_hours``); a ``day`` station only for voters
   of its own 投票区 (``not_eligible_district``).
3. A ballot the voter is already known to have received, at any station or by 不在者投票
   (``already_voted``, with where and when). Checked before the rules below so that a poll worker
   always sees the hard stop; the other contests stay open.
4. At early stations, the contest's own early-voting period (``outside_period``: 国民審査 may open
   days after the 衆院選).
5. 表示(転出): national contests yes; prefectural only when moved within the prefecture within three
   months before election day, and the voter must show proof of the move (公職選挙法 44条3項,
   ``proof_required``); municipal never (``not_eligible_moved``).
6. The 18-year rule (``age_rule``), from the known part of the 生年月日 only (parts may be 不詳,
   issue 19): under 18 on election day → ``underage``; at early stations, a voter who turns 18 by
   election day but has not reached 18 today (age is reached the day BEFORE the 18th birthday) →
   ``underage_early``: 不在者投票 at the 選挙管理委員会. When the known part cannot tell (a 不詳
   date) → ``age_confirm_id`` (年齢確認): the poll worker must confirm the age from an ID before a
   ballot; ``decide(..., age_confirmed=True)`` (the poll worker did) hands it with a note.

API for the kiosk and console (slice 4): ``Decision.needs_age_confirm`` is True when any contest
says ``age_confirm_id`` (its ``reason`` is the Japanese instruction); the kiosk then asks the poll
worker, who checks an ID, and calls ``Terminal.checkin(..., marks={"age_confirmed": KIND})`` with
``KIND`` one of ``AGE_ID_KINDS`` (the document seen). Without that mark such a check-in records
nothing and answers ``age_confirm_id``.

Must never import anything that does I/O (SQLite, sockets, files, clocks): ``now`` is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import Enum
from functools import cached_property

from appliance.birthdate import BirthDate, reaches_age_by
from ground.clock import JST
from ground.model import (Contest, ContestId, DisplayReason, ElectionConfig, Level, Station,
                             StationKind, Status, Voter)

VOTING_AGE = 18
# 年齢確認: the ID the poll worker saw for a voter whose 生年月日 is 不詳 (the ``age_confirmed`` mark).
AGE_ID_KINDS: dict[str, str] = {
    "mynumber": "マイナンバーカード", "license": "運転免許証", "passport": "旅券（パスポート）",
    "insurance": "健康保険の資格確認書・保険証", "residence": "在留カード・特別永住者証明書", "other": "その他の本人確認書類",
}
MOVED_WITHIN_MONTHS = 3  # 転出 within the prefecture: still votes for the 知事 (公職選挙法 9条3項)


class Code(str, Enum):
    OK = "ok"
    ALREADY_VOTED = "already_voted"
    NOT_ELIGIBLE_DISTRICT = "not_eligible_district"
    NOT_ELIGIBLE_DELETED = "not_eligible_deleted"
    NOT_ELIGIBLE_LOST_RIGHTS = "not_eligible_lost_rights"
    NOT_ELIGIBLE_MOVED = "not_eligible_moved"
    UNDERAGE_EARLY = "underage_early"
    OUTSIDE_HOURS = "outside_hours"
    OUTSIDE_PERIOD = "outside_period"
    NOT_ELECTION_DAY = "not_election_day"
    AGE_CONFIRM_ID = "age_confirm_id"  # 生年月日 不詳: confirm the age from an ID (年齢確認)
    UNDERAGE = "underage"  # the known part of a 不詳 date proves under 18 on election day


@dataclass(frozen=True)
class VotedInfo:
    """Where and when a voter is known to have received one contest's ballot."""

    station: str  # station id, or "HQ" for 不在者投票
    terminal: str
    at: datetime | None = None  # Japan time, from the event's hybrid-logical-clock timestamp
    seq: int | None = None  # the terminal's journal seq of that check-in


@dataclass(frozen=True)
class ContestDecision:
    contest: ContestId
    name: str
    code: Code
    reason: str = ""  # Japanese; empty when handed over
    proof_required: bool = False  # 転出 voter: proof of the move must be shown (44条3項)
    note: str = ""  # Japanese note for the poll worker on a handed ballot
    voted: VotedInfo | None = None  # set for ``already_voted``

    @property
    def handed(self) -> bool:
        return self.code is Code.OK


@dataclass(frozen=True)
class Decision:
    """Every contest of the election, in config order, handed or refused."""

    contests: tuple[ContestDecision, ...]

    @cached_property
    def handed(self) -> tuple[ContestDecision, ...]:
        return tuple(c for c in self.contests if c.code is Code.OK)

    @cached_property
    def refused(self) -> tuple[ContestDecision, ...]:
        return tuple(c for c in self.contests if c.code is not Code.OK)

    @property
    def needs_age_confirm(self) -> bool:
        """Some contest waits for the poll worker's 年齢確認 (``age_confirm_id``, a 不詳 birth date)."""
        return any(c.code is Code.AGE_CONFIRM_ID for c in self.contests)

    @property
    def code(self) -> Code:
        """``ok`` when every contest is handed; otherwise the first refused contest's code."""
        for c in self.contests:
            if not c.handed:
                return c.code
        return Code.OK


# ---------------------------------------------------------------------------------------------
# dates

def age_reached_on(birth_date: date, age: int = VOTING_AGE) -> date:
    """The day a person reaches ``age``: the day before the birthday (年齢計算ニ関スル法律).

    Born 29 February: the birthday of a common year is taken as 1 March, so the age is reached
    on 28 February.
    """
    year = birth_date.year + age
    try:
        birthday = birth_date.replace(year=year)
    except ValueError:  # 29 Feb in a common year
        birthday = date(year, 3, 1)
    return birthday - timedelta(days=1)


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clamped to the month's last day)."""
    y, m = divmod(day.year * 12 + (day.month - 1) - months, 12)
    m += 1
    for d in range(day.day, 27, -1):
        try:
            return date(y, m, d)
        except ValueError:
            continue
    return date(y, m, min(day.day, 28))


def in_window(station: Station, now: datetime) -> bool:
    """``now`` falls on one of the station's open days and inside that day's hours."""
    d, t = now.date(), now.time().replace(tzinfo=None)
    for w in station.windows:
        if w.first_day <= d <= w.last_day and w.opens <= t and (t < w.closes or w.closes == time.max):
            return True
    return False


def _hours_text(station: Station, day: date) -> str:
    spans = [f"{w.opens:%H:%M}〜{'24:00' if w.closes == time.max else format(w.closes, '%H:%M')}"
             for w in station.windows if w.first_day <= day <= w.last_day]
    if spans:
        return f"本日の受付時間は {'、'.join(spans)} です"
    days = [f"{w.first_day:%m/%d}〜{w.last_day:%m/%d}" for w in station.windows]
    return f"本日は開設日ではありません（開設日: {'、'.join(days) or 'なし'}）"


def _at_text(v: VotedInfo) -> str:
    where = "不在者投票" if v.station == "HQ" else f"投票所 {v.station}"
    when = f" {v.at:%m月%d日 %H:%M}" if v.at is not None else ""
    return f"{where}{when}"


# ---------------------------------------------------------------------------------------------
# the rules

def _station_refusal(config: ElectionConfig, station: Station, voter: Voter,
                     now: datetime) -> tuple[Code, str] | None:
    today = now.date()
    if station.kind is not StationKind.EARLY and today != config.election_day:
        return (Code.NOT_ELECTION_DAY,
                f"{station.kind.ja}は選挙期日（{config.election_day:%Y年%m月%d日}）にだけ受け付けます")
    if not in_window(station, now):
        return Code.OUTSIDE_HOURS, f"受付時間外です。{_hours_text(station, today)}"
    if station.kind is StationKind.DAY and voter.district != station.district:
        return (Code.NOT_ELIGIBLE_DISTRICT,
                f"この当日投票所は第{station.district}投票区の方のみです（この方は第{voter.district}投票区）。"
                "指定の投票所または共通投票所へご案内ください")
    return None


def _moved_rule(config: ElectionConfig, contest: Contest, voter: Voter) -> ContestDecision | None:
    """表示(転出): None when eligible without a note; else a refusal or an eligible-with-proof."""
    if contest.level is Level.NATIONAL:
        return None
    if contest.level is Level.PREFECTURAL:
        limit = months_before(config.election_day, MOVED_WITHIN_MONTHS)
        if (voter.moved_within_prefecture and voter.moved_on is not None
                and limit <= voter.moved_on <= config.election_day):
            return ContestDecision(
                contest.contest_id, contest.name, Code.OK, proof_required=True,
                note=f"県内転出（{voter.moved_on:%Y年%m月%d日}）: 引き続き県内に住所があることの証明"
                     "（転出先の住民票の写し等）を確認してから交付してください（公職選挙法44条3項）")
        if voter.moved_within_prefecture and voter.moved_on is None:
            why = "転出日が名簿にないため判定できません。選挙管理委員会に確認してください"
        elif voter.moved_within_prefecture:
            why = f"県内転出から3か月を超えています（転出日 {voter.moved_on:%Y年%m月%d日}）"
        else:
            why = "県外へ転出しています"
        return ContestDecision(contest.contest_id, contest.name, Code.NOT_ELIGIBLE_MOVED,
                               f"{contest.name}の投票資格がありません: {why}")
    return ContestDecision(contest.contest_id, contest.name, Code.NOT_ELIGIBLE_MOVED,
                           f"{contest.name}の投票資格がありません: 市区町村外へ転出しています")


def decide_contest(config: ElectionConfig, station: Station, voter: Voter, now: datetime,
                   contest: Contest, known: VotedInfo | None, *, age_confirmed: bool = False) -> ContestDecision:
    """One contest's answer (``decide`` is the same for every contest, computed once)."""
    return _decide_contest(config, station, voter, now, contest, known, _voter_refusal(voter)
                           or _station_refusal(config, station, voter, now), age_confirmed)


def _voter_refusal(voter: Voter) -> tuple[Code, str] | None:
    if voter.status is Status.DELETED:
        return Code.NOT_ELIGIBLE_DELETED, "選挙人名簿から抹消されています。交付できません"
    if voter.status is Status.DISPLAYED and voter.display_reason is DisplayReason.LOST_RIGHTS:
        return Code.NOT_ELIGIBLE_LOST_RIGHTS, "選挙権を失っています（表示: 失権）。交付できません"
    return None


def _decide_contest(config: ElectionConfig, station: Station, voter: Voter, now: datetime,
                    contest: Contest, known: VotedInfo | None,
                    common: tuple[Code, str] | None, age_confirmed: bool = False) -> ContestDecision:
    cid, name = contest.contest_id, contest.name
    if common is not None:  # rules 1 and 2: the same for every contest
        return ContestDecision(cid, name, common[0], common[1])
    if known is not None:
        return ContestDecision(cid, name, Code.ALREADY_VOTED,
                               f"{name}の投票用紙は交付済みです（{_at_text(known)}）。二重に交付しないでください",
                               voted=known)
    today = now.date()
    early = station.kind is StationKind.EARLY
    if early and not (contest.early_voting_start <= today <= contest.early_voting_end):
        if today < contest.early_voting_start:
            why = f"{name}の期日前投票は {contest.early_voting_start:%m月%d日} から受け付けます"
        else:
            why = f"{name}の期日前投票は {contest.early_voting_end:%m月%d日} で終了しました"
        return ContestDecision(cid, name, Code.OUTSIDE_PERIOD, why)
    moved: ContestDecision | None = None
    if voter.status is Status.DISPLAYED and voter.display_reason is DisplayReason.MOVED:
        moved = _moved_rule(config, contest, voter)
        if moved is not None and not moved.handed:
            return moved
    age = _age_decision(config, voter, today if early else None, cid, name, age_confirmed)
    if age is not None and not age.handed:
        return age
    if moved is not None:
        return moved if age is None else replace(moved, note=f"{moved.note}。{age.note}")
    return age if age is not None else ContestDecision(cid, name, Code.OK)


def _age_decision(config: ElectionConfig, voter: Voter, early_today: date | None, cid: ContestId, name: str,
                  age_confirmed: bool) -> ContestDecision | None:
    """Rule 6; ``None`` when the age is proven (nothing to say), else a refusal or a handed ballot
    with the 年齢確認 note. ``early_today``: today at an early station (the age must be reached
    today as well), None elsewhere."""
    code, why = age_rule(voter.birth_date, config.election_day)
    if code is Code.OK and early_today is not None:
        verdict = reaches_age_by(voter.birth_date, early_today, VOTING_AGE)
        if verdict is False:
            d = voter.birth_date.as_date()
            when = f"{age_reached_on(d):%Y年%m月%d日}から期日前投票ができます" if d is not None else "期日前投票はまだできません"
            return ContestDecision(cid, name, Code.UNDERAGE_EARLY,
                                   f"まだ18歳に達していません（{when}）。"
                                   "それまでは選挙管理委員会での不在者投票をご案内ください")
        if verdict is None:
            code, why = Code.AGE_CONFIRM_ID, (f"生年月日が不詳（{voter.birth_date.ja()}）のため年齢を判定できません。"
                                              f"本人確認書類で本日18歳以上であることを確認してください")
    if code is Code.OK:
        return None
    if code is Code.AGE_CONFIRM_ID and age_confirmed:
        return ContestDecision(cid, name, Code.OK,
                               note=f"年齢確認済み: 生年月日不詳（{voter.birth_date.ja()}）のため本人確認書類で確認しました")
    return ContestDecision(cid, name, code, why)


def decide(config: ElectionConfig, station: Station, voter: Voter, now: datetime,
           known_voted: Mapping[ContestId, VotedInfo], *, age_confirmed: bool = False) -> Decision:
    """Decide every contest for ``voter`` at ``station`` at ``now`` (read as Japan time).

    ``age_confirmed``: the poll worker confirmed from an ID that the voter is of age (年齢確認);
    it turns only ``age_confirm_id`` into a handed ballot, never any other refusal."""
    now = now.astimezone(JST) if now.tzinfo is not None else now.replace(tzinfo=JST)
    common = _voter_refusal(voter) or _station_refusal(config, station, voter, now)
    return Decision(tuple(_decide_contest(config, station, voter, now, c, known_voted.get(c.contest_id), common,
                                          age_confirmed)
                          for c in config.contests))


def age_rule(birth: BirthDate, election_day: date) -> tuple[Code, str]:
    """The 18-year rule (年齢要件) decided from the known part of a possibly 不詳 birth date.

    ``ok`` when the known part proves 18 by election day, ``underage`` when it proves under 18,
    else ``age_confirm_id``: the poll worker confirms the age from an ID before handing a ballot.
    """
    verdict = reaches_age_by(birth, election_day, VOTING_AGE)
    if verdict is True:
        return Code.OK, ""
    if verdict is False:
        return Code.UNDERAGE, f"生年月日（{birth.ja()}）から、選挙期日に18歳未満です。交付できません"
    return (Code.AGE_CONFIRM_ID,
            f"生年月日が不詳（{birth.ja()}）のため年齢を判定できません。本人確認書類で"
            f"{election_day:%Y年%m月%d日}に18歳以上であることを確認してください")
