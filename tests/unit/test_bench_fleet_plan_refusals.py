"""``meibo bench fleet`` refuses a plan it cannot run, in Japanese with the code ``fleet_plan``,
before anything is started; a good one becomes the FleetPlan it says."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from tooling.fleet import FleetPlan, assign_profiles


@pytest.mark.parametrize("argv, says", [
    (["--terminals", "1"], "2 台以上"),
    (["--rate", "0"], "正の数"),
    (["--workers", "0"], "1 以上"),
    (["--minutes", "0"], "--storm"),
    (["--profiles", "good=0.5"], "合計は 1"),
    (["--profiles", "wifi=1"], "読めません"),
    (["--profiles", "outage=1"], "読めません"),
    (["--storm", "--storm-events", "1"], "2 以上"),
])
def test_bad_plan_refused_with_a_code(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fleet", "--json", *argv]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["code"] == "fleet_plan" and says in out["message"]


def test_profiles_are_shared_out_exactly() -> None:
    plan = FleetPlan(terminals=200)
    names = assign_profiles(plan)
    assert len(names) == 200
    assert (names.count("good"), names.count("handover"), names.count("cell-edge")) == (120, 40, 40)
    assert assign_profiles(plan) == names  # seeded: the same run gives the same fleet
