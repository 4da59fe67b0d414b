"""表示(転出) voters: national yes, prefectural only within the prefecture within 3 months (with
proof, 公職選挙法 44条3項), municipal never."""

from datetime import date

from appliance.eligibility import Code, decide
from tests.builders import EARLY_NOON, election_config, moved_voter

CFG = election_config()
E01 = CFG.station("E01")


def codes(v):  # type: ignore[no-untyped-def]
    return {c.contest: c for c in decide(CFG, E01, v, EARLY_NOON, {}).contests}


def test_moved_within_prefecture_recently_votes_governor_with_proof_not_mayor() -> None:
    d = codes(moved_voter(moved_on=date(2027, 3, 1), within_prefecture=True))
    assert d["shu"].code is Code.OK and not d["shu"].proof_required
    assert d["governor"].code is Code.OK and d["governor"].proof_required
    assert "44条3項" in d["governor"].note
    assert d["mayor"].code is Code.NOT_ELIGIBLE_MOVED
    assert "転出" in d["mayor"].reason


def test_moved_within_prefecture_more_than_three_months_ago_loses_governor() -> None:
    d = codes(moved_voter(moved_on=date(2027, 1, 24), within_prefecture=True))
    assert d["governor"].code is Code.NOT_ELIGIBLE_MOVED
    assert "3か月" in d["governor"].reason
    assert d["shu"].code is Code.OK


def test_exactly_three_months_before_election_day_still_counts() -> None:
    d = codes(moved_voter(moved_on=date(2027, 1, 25), within_prefecture=True))
    assert d["governor"].code is Code.OK


def test_moved_out_of_prefecture_votes_national_only() -> None:
    d = codes(moved_voter(moved_on=date(2027, 3, 1), within_prefecture=False))
    assert [c for c, x in d.items() if x.code is Code.OK] == ["shu", "shinsa"]
    assert d["governor"].code is Code.NOT_ELIGIBLE_MOVED and "県外" in d["governor"].reason


def test_moved_without_date_is_not_guessed() -> None:
    v = moved_voter(within_prefecture=True)
    v = type(v)(**{**v.__dict__, "moved_on": None})
    assert codes(v)["governor"].code is Code.NOT_ELIGIBLE_MOVED
