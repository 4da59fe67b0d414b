"""The fleet benchmark in small (issue 20): three terminals with their own certificates, journals
and LTE profiles on one real HQ process, a few seconds of check-ins, then the reconnect storm.
Every check-in of the load gets HQ's verdict, every terminal converges after the storm, and the
report carries every figure. No timing assertion: the verdict budget is widened so a loaded
machine cannot turn an answer into オフライン受付, and convergence has a generous bound."""

from __future__ import annotations

import math

from tooling.fleet import FleetPlan, run_fleet

LOAD_FIGURES = {"terminals_online", "checkins_offered", "checkins_answered", "desk_queue_p99", "hq_cpu",
                "hq_rss_start", "hq_rss_peak", "hq_rss_end", "hq_rss_growth_per_event",
                "hq_rss_growth_per_event_after_warmup", "wire_bytes_per_checkin",
                "wire_down_per_checkin_per_terminal", "wire_bytes_per_checkin_at_6", "wire_connections",
                "terminal_processes_cpu", "terminal_loop_lag_p99",
                "pending_after_load"}
STORM_FIGURES = {"storm_terminals", "storm_all_uploaded", "storm_all_converged", "storm_reconnect_per_terminal",
                 "storm_uploaded_per_terminal", "storm_converged_per_terminal",
                 "storm_upload_after_reconnect_per_terminal", "storm_terminal_loop_lag_p99",
                 "storm_starvation_max_over_median", "storm_new_checkins", "storm_hq_cpu", "storm_hq_rss_peak",
                 "storm_wire_up_per_backlog_entry", "storm_wire_down_per_backlog_ballot_per_terminal"}
PROFILES = ("good", "handover", "cell-edge")


def test_small_fleet_every_checkin_answered_and_storm_converges() -> None:
    plan = FleetPlan(terminals=3, duration_s=4.0, rate_per_min=180.0, workers=1, budget_s=30.0, rtt_pings=4,
                     profiles=(("good", 1 / 3), ("handover", 1 / 3), ("cell-edge", 1 / 3)), backoff_max_s=1.0,
                     storm=True, storm_events=20, storm_timeout_s=120.0, grace_s=60.0)
    report = run_fleet(plan, say=lambda s: None)
    names = {f.name for f in report.figures}
    assert LOAD_FIGURES <= names and STORM_FIGURES <= names, (LOAD_FIGURES | STORM_FIGURES) - names
    assert {f"rtt_{p}" for p in PROFILES} <= names
    load = report.raw["load"]
    assert load["errors"] == [] and load["offered"] > 0
    assert load["answered"] == load["attempted"] == load["offered"] and load["provisional"] == 0
    assert report.figure("checkins_answered").ok and report.figure("pending_after_load").ok
    # each profile that served a check-in has its latency figure, held to its floor from this run
    for f in report.figures:
        if f.name.startswith("verdict_p99_"):
            assert f.floor is not None and f.floor > 2 * report.raw["rtt_ms"][f.name[len("verdict_p99_"):]]
    per = report.raw["storm"]["per_terminal"]
    assert len(per) == 3 and all(r["converged_s"] is not None for r in per.values())
    assert math.isfinite(report.figure("storm_all_converged").value)
    assert report.raw["storm"]["errors"] == []
    for f in report.figures:
        assert f.line().startswith(f.name + " = ")  # one line each, value first
