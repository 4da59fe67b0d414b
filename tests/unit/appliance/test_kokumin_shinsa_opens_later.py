"""国民審査 opens for early voting days after the 衆院選: refused for that contest only, and a voter
who voted early in the 衆院選 can come back for the 国民審査 once it opens."""

from ground.clock import FixedClock
from appliance.eligibility import Code, decide
from appliance.terminal import Terminal
from tests.builders import election_config, jst, terminal_dir, voter

CFG = election_config()


def test_shinsa_refused_before_it_opens_others_handed() -> None:
    d = decide(CFG, CFG.station("E01"), voter(), jst(2027, 4, 15, 10), {})
    assert [c.contest for c in d.handed] == ["shu", "governor", "mayor"]
    (r,) = d.refused
    assert r.contest == "shinsa" and r.code is Code.OUTSIDE_PERIOD and "04月18日" in r.reason


def test_voter_returns_for_shinsa_once_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(jst(2027, 4, 15, 10))
    with Terminal(terminal_dir(tmp_path / "t", [voter("1")]), clock) as t:
        first = t.checkin("1", "c1")
        assert [c.contest for c in first.handed] == ["shu", "governor", "mayor"]
        clock.set(jst(2027, 4, 19, 10))
        second = t.checkin("1", "c1")
        assert [c.contest for c in second.handed] == ["shinsa"]
        assert {c.contest: c.code for c in second.refused} == {
            "shu": Code.ALREADY_VOTED, "governor": Code.ALREADY_VOTED, "mayor": Code.ALREADY_VOTED}
        assert second.event is not None and second.event.contests == ("shinsa",)
