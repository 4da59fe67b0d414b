"""A ballot known to be handed anywhere (or by 不在者投票) is a hard stop naming where and when;
the other contests stay open."""

from appliance.eligibility import Code, VotedInfo, decide
from ground.model import ContestId
from tests.builders import ELECTION_NOON, election_config, jst, voter

CFG = election_config()


def test_absentee_governor_blocks_only_governor() -> None:
    known = {ContestId("governor"): VotedInfo("HQ", "HQ", jst(2027, 4, 18, 10, 5), 3)}
    d = decide(CFG, CFG.station("C01"), voter(), ELECTION_NOON, known)
    assert [c.contest for c in d.handed] == ["shu", "shinsa", "mayor"]
    (r,) = d.refused
    assert r.code is Code.ALREADY_VOTED and r.voted == known[ContestId("governor")]
    assert "不在者投票" in r.reason and "04月18日 10:05" in r.reason


def test_other_station_named_in_reason() -> None:
    known = {ContestId("shu"): VotedInfo("E02", "T07", jst(2027, 4, 21, 15, 30), 9)}
    r = decide(CFG, CFG.station("C01"), voter(), ELECTION_NOON, known).refused[0]
    assert "E02" in r.reason and "04月21日 15:30" in r.reason
