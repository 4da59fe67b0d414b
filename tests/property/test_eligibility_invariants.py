"""Invariants of the eligibility rules over generated voters, stations, times and histories:
a voter never gets one contest twice; a day station never hands a ballot to another district;
deleted/lost-rights voters never get a ballot; the answer always lists every contest in order."""

from datetime import date, datetime, timedelta

from hypothesis import given, settings, strategies as st

from ground.clock import JST
from appliance.eligibility import Code, VotedInfo, decide
from ground.model import ContestId, DisplayReason, Level, StationKind, Status, Voter, VoterId
from tests.builders import election_config, voter

CFG = election_config()


@st.composite
def voters(draw: st.DrawFn) -> Voter:
    status = draw(st.sampled_from(list(Status)))
    reason = draw(st.sampled_from(list(DisplayReason))) if status is Status.DISPLAYED else None
    return voter(draw(st.from_regex(r"[0-9]{1,8}", fullmatch=True)), district=draw(st.integers(0, 4)),
                 birth_date=draw(st.dates(date(1920, 1, 1), date(2009, 4, 25))), status=status,
                 display_reason=reason,
                 moved_on=draw(st.none() | st.dates(date(2026, 1, 1), date(2027, 4, 25))),
                 moved_within_prefecture=draw(st.none() | st.booleans()))


moments = st.datetimes(datetime(2027, 4, 10), datetime(2027, 4, 27)).map(lambda d: d.replace(tzinfo=JST))
stations = st.sampled_from(CFG.stations)
histories = st.dictionaries(st.sampled_from(CFG.contest_ids),
                            st.builds(VotedInfo, st.sampled_from(["E01", "HQ", "C01"]), st.just("T01")))


@settings(max_examples=300, deadline=None)
@given(voters(), st.lists(st.tuples(stations, moments), min_size=1, max_size=6), histories)
def test_a_voter_never_gets_a_contest_twice(v: Voter, visits: list, known: dict) -> None:  # type: ignore[type-arg]
    known = dict(known)
    handed_total: list[ContestId] = []
    for station, at in visits:
        d = decide(CFG, station, v, at, known)
        assert [c.contest for c in d.contests] == list(CFG.contest_ids)
        for c in d.handed:
            assert c.contest not in known
            known[c.contest] = VotedInfo(station.station_id, "T01")
            handed_total.append(c.contest)
        for c in d.refused:
            assert c.reason and c.code is not Code.OK
    assert len(handed_total) == len(set(handed_total))


@settings(max_examples=300, deadline=None)
@given(voters(), stations, moments, histories)
def test_station_and_status_rules_hold(v: Voter, station, at: datetime, known: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    d = decide(CFG, station, v, at, known)
    if station.kind is StationKind.DAY and d.handed:
        assert v.district == station.district
    if station.kind is not StationKind.EARLY and d.handed:
        assert at.date() == CFG.election_day
    if v.status is Status.DELETED or v.display_reason is DisplayReason.LOST_RIGHTS and v.status is Status.DISPLAYED:
        assert not d.handed
    if v.status is Status.DISPLAYED and v.display_reason is DisplayReason.MOVED:
        assert all(CFG.contest(c.contest).level is not Level.MUNICIPAL for c in d.handed)
        assert all(c.proof_required for c in d.handed if CFG.contest(c.contest).level is Level.PREFECTURAL)
    if station.kind is StationKind.EARLY:
        for c in d.handed:
            ct = CFG.contest(c.contest)
            assert ct.early_voting_start <= at.date() <= ct.early_voting_end
        if d.handed:
            born = v.birth_date.as_date()  # a BirthDate (issue 19); these voters' dates are all known
            assert born is not None
            assert at.date() >= born.replace(year=born.year + 18) - timedelta(days=1) \
                or (born.month, born.day) == (2, 29)
