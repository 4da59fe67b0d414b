"""Early stations accept only inside their days and hours (Japan time, whatever the zone given)."""

from datetime import datetime, timezone

from appliance.eligibility import Code, decide
from tests.builders import ELECTION_NOON, election_config, jst, voter

CFG = election_config()
E01, E02 = CFG.station("E01"), CFG.station("E02")


def test_before_opening_and_at_closing_time_refused() -> None:
    for at in (jst(2027, 4, 20, 8, 29), jst(2027, 4, 20, 20, 0)):
        d = decide(CFG, E01, voter(), at, {})
        assert {c.code for c in d.contests} == {Code.OUTSIDE_HOURS}
        assert "08:30〜20:00" in d.contests[0].reason
    assert decide(CFG, E01, voter(), jst(2027, 4, 20, 8, 30), {}).code is Code.OK
    assert decide(CFG, E01, voter(), jst(2027, 4, 20, 19, 59), {}).code is Code.OK


def test_station_not_open_that_day() -> None:
    d = decide(CFG, E02, voter(), jst(2027, 4, 15, 12), {})
    assert {c.code for c in d.contests} == {Code.OUTSIDE_HOURS}
    assert "開設日ではありません" in d.contests[0].reason


def test_early_station_closed_on_election_day() -> None:
    assert {c.code for c in decide(CFG, E01, voter(), ELECTION_NOON, {}).contests} == {Code.OUTSIDE_HOURS}


def test_utc_time_is_read_as_japan_time() -> None:
    # 2027-04-19 23:45 UTC is 04-20 08:45 in Japan: open
    at = datetime(2027, 4, 19, 23, 45, tzinfo=timezone.utc)
    assert decide(CFG, E01, voter(), at, {}).code is Code.OK
