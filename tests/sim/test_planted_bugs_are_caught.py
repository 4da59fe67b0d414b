"""The checker can fail: each planted bug is caught within a few hundred seeds, and the
seeds that caught them first stay caught (regression)."""

import pytest

from tooling.sim.run import run_seed


def first_caught(bug, limit=300):
    for seed in range(limit):
        r = run_seed(seed, bug)
        if not r.ok:
            return seed, r
    return None, None


def test_ack_before_fsync_is_caught_as_a_lost_acknowledged_checkin():
    seed, r = first_caught("ack-before-fsync")
    assert seed is not None, "ack-before-fsync survived 300 seeds"
    assert any("acknowledged check-in" in v or "lost by a crash" in v for v in r.violations)
    assert run_seed(seed).ok  # the same seed without the bug is clean


def test_lww_merge_is_caught_as_a_missing_alert():
    seed, r = first_caught("lww-merge")
    assert seed is not None, "lww-merge survived 300 seeds"
    assert any(v.startswith("alert for") for v in r.violations)
    assert run_seed(seed).ok


@pytest.mark.parametrize("bug,seed", [("ack-before-fsync", 5), ("lww-merge", 1)])
def test_seeds_that_caught_a_planted_bug_still_catch_it(bug, seed):
    assert not run_seed(seed, bug).ok
