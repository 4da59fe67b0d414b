"""抹消 and 表示(失権) voters get no ballot at all, each with its own code."""

from appliance.eligibility import Code, decide
from ground.model import DisplayReason, Status
from tests.builders import EARLY_NOON, election_config, voter

CFG = election_config()


def test_deleted_voter_refused_every_contest() -> None:
    d = decide(CFG, CFG.station("E01"), voter(status=Status.DELETED), EARLY_NOON, {})
    assert {c.code for c in d.contests} == {Code.NOT_ELIGIBLE_DELETED} and len(d.contests) == 4
    assert "抹消" in d.contests[0].reason


def test_lost_rights_voter_refused_every_contest() -> None:
    v = voter(status=Status.DISPLAYED, display_reason=DisplayReason.LOST_RIGHTS)
    d = decide(CFG, CFG.station("E01"), v, EARLY_NOON, {})
    assert {c.code for c in d.contests} == {Code.NOT_ELIGIBLE_LOST_RIGHTS}
    assert d.code is Code.NOT_ELIGIBLE_LOST_RIGHTS
