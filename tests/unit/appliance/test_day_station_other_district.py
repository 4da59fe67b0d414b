"""当日投票所 serve their own 投票区 only; 共通投票所 serve everyone; both only on election day."""

from appliance.eligibility import Code, decide
from tests.builders import EARLY_NOON, ELECTION_NOON, election_config, voter

CFG = election_config()


def test_day_station_refuses_voter_of_another_district() -> None:
    d = decide(CFG, CFG.station("D01"), voter(district=2), ELECTION_NOON, {})
    assert not d.handed
    assert {c.code for c in d.refused} == {Code.NOT_ELIGIBLE_DISTRICT}
    assert "第1投票区" in d.refused[0].reason


def test_day_station_hands_own_district_and_common_station_anyone() -> None:
    assert decide(CFG, CFG.station("D02"), voter(district=2), ELECTION_NOON, {}).code is Code.OK
    assert decide(CFG, CFG.station("C01"), voter(district=7), ELECTION_NOON, {}).code is Code.OK


def test_day_and_common_stations_closed_before_election_day() -> None:
    for sid in ("D01", "C01"):
        d = decide(CFG, CFG.station(sid), voter(district=1), EARLY_NOON, {})
        assert {c.code for c in d.contests} == {Code.NOT_ELECTION_DAY}
