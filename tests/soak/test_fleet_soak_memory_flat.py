"""make soak (issue 20): the fleet on one HQ for 30 minutes with faults, HQ's memory flat.

200 terminals (``MEIBO_SOAK_FLEET_TERMINALS``) at Harris County's 3,000 check-ins a minute
(``MEIBO_SOAK_FLEET_RATE``) for ``MEIBO_SOAK_S`` seconds (default 1800), over the mixed LTE
profiles, and in each worker process one link cut for 2–20 s every 20 s on average (the proxy
resets it, as a radio-link failure does). Afterwards every check-in was answered or recorded
offline, HQ holds every journal entry, and HQ's RSS grew by less than ``BOUND`` bytes per journal
entry after warm-up (the first fifth): what the ledger keeps for each check-in (its record, its
ballots and their voted flags) and no more; growth with the events beyond that is a leak.
"""

from __future__ import annotations

import os

import pytest

from tooling.fleet import FleetPlan, print_report, run_fleet

SOAK_S = float(os.environ.get("MEIBO_SOAK_S", "1800"))
TERMINALS = int(os.environ.get("MEIBO_SOAK_FLEET_TERMINALS", "200"))
RATE = float(os.environ.get("MEIBO_SOAK_FLEET_RATE", "3000"))
BOUND = 4096  # bytes of HQ RSS per journal entry after warm-up


@pytest.mark.slow
@pytest.mark.timeout(int(SOAK_S) + 1800)
def test_fleet_soak_with_faults_memory_flat() -> None:
    plan = FleetPlan(terminals=TERMINALS, duration_s=SOAK_S, rate_per_min=RATE, fault_gap_s=20.0, grace_s=60.0)
    report = run_fleet(plan)
    print_report(report)
    load = report.raw["load"]
    assert load["errors"] == []
    assert load["attempted"] == load["offered"]
    assert load["answered"] + load["provisional"] == load["attempted"]
    assert report.figure("pending_after_load").ok, "HQ must hold every journal entry once the links are back"
    assert report.figure("hq_rss_growth_per_event_after_warmup").value < BOUND
