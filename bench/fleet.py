"""Fleet benchmark (issue 20): a large city's terminals on one HQ, then the reconnect storm.

``tooling/fleet.py`` runs it (what it measures and why: docs/fleet.md); this module reads the
sizes from the environment, runs it and prints every figure with its floor or goal, one a line.

- MEIBO_FLEET_TERMINALS (200), MEIBO_FLEET_MINUTES (3), MEIBO_FLEET_RATE (3000 check-ins a
  minute, Harris County's peak), MEIBO_FLEET_WORKERS (2 terminal processes);
- the storm, on the same fleet after the load: MEIBO_FLEET_STORM (1; 0 skips it),
  MEIBO_FLEET_STORM_EVENTS (100 journal entries each here: the issue's 2,000 each on 200
  terminals is 400,000 entries and 80 million voted-flag rows for the terminals to apply, more
  than one machine emulating the fleet can do in make bench; docs/fleet.md has the runs made).

Run: ``.venv/bin/python -m bench fleet`` (or ``meibo bench fleet``).
"""

from __future__ import annotations

import os
from typing import Any

from tooling.fleet import FleetPlan, print_report, run_fleet


def plan_from_env() -> FleetPlan:
    env = os.environ.get
    return FleetPlan(terminals=int(env("MEIBO_FLEET_TERMINALS", "200")),
                     duration_s=float(env("MEIBO_FLEET_MINUTES", "3")) * 60.0,
                     rate_per_min=float(env("MEIBO_FLEET_RATE", "3000")),
                     workers=int(env("MEIBO_FLEET_WORKERS", "2")),
                     storm=env("MEIBO_FLEET_STORM", "1") != "0",
                     storm_events=int(env("MEIBO_FLEET_STORM_EVENTS", "100")))


def run() -> dict[str, Any]:
    plan = plan_from_env()
    print(f"  fleet: {plan.terminals} terminals, {plan.rate_per_min:.0f}/min for {plan.duration_s:.0f} s"
          + (f", then the storm with {plan.storm_events} entries each" if plan.storm else "")
          + " (this machine is shared with other work: figures are loaded-machine figures)", flush=True)
    report = run_fleet(plan, say=lambda s: print("  " + s, flush=True))
    print_report(report)
    return report.as_dict()


if __name__ == "__main__":
    run()
