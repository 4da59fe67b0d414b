"""Run one seed: draw its fault mix, run the safety phase under faults, heal, demand
convergence within a bound, check. ``run_seed(seed)`` is deterministic: the same seed and
code give the same report and the same trace hash. Pure: no real clock, no real randomness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tooling.sim.checker import check
from tooling.sim.faults import MINUTE, SECOND, draw_mix
from tooling.sim.scheduler import substream
from tooling.sim.world import World

BUGS = ("ack-before-fsync", "lww-merge")
HEAL_BOUND_MS = 10 * MINUTE  # after heal, everything must converge within this virtual time
HEAL_STEP_MS = 250
FAULT_KINDS = ("loss", "dup", "reorder", "delay_spike", "clogged_packet", "partition", "swizzle", "conn_drop",
               "term_crash", "hq_crash", "drift", "clock_step", "double_visit", "void", "revisit", "absentee", "replay")
# weaknesses counted but not (yet) invariants: see docs/simulation.md, "What the simulator found"
WEAKNESS_COUNTS = ("verdict_lost_on_reconnect", "double_ballot_hq_knew")


@dataclass
class RunReport:
    seed: int
    bug: str | None
    mix: dict[str, Any]
    virtual_ms: int
    convergence_ms: int | None
    faults: dict[str, int]
    violations: list[str]
    trace_hash: str
    counts: dict[str, int] = field(default_factory=dict)
    trace: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        d = {"seed": self.seed, "bug": self.bug, "ok": self.ok, "mix": self.mix, "virtual_ms": self.virtual_ms,
             "convergence_ms": self.convergence_ms, "faults": self.faults, "violations": self.violations,
             "trace_hash": self.trace_hash, "counts": self.counts}
        return d


def run_world(seed: int, bug: str | None = None, keep_trace: bool = False) -> tuple[World, int, int | None]:
    """Safety phase under faults, then heal; returns (world, heal time, convergence time or None)."""
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}")
    mix = draw_mix(seed, substream(seed, "mix"))
    w = World(seed, mix, bug, keep_trace)
    w.sched.run_until(mix.safety_ms)
    heal_at = w.sched.now
    w.heal()
    converged_at: int | None = None
    while w.sched.now - heal_at < HEAL_BOUND_MS:
        w.sched.run_until(w.sched.now + HEAL_STEP_MS)
        if w.converged():
            converged_at = w.sched.now
            break
    return w, heal_at, converged_at


def run_seed(seed: int, bug: str | None = None, keep_trace: bool = False) -> RunReport:
    w, heal_at, converged_at = run_world(seed, bug, keep_trace)
    mix = w.mix
    violations = check(w, converged_at is not None)
    faults = {k: w.stats[k] for k in FAULT_KINDS if w.stats[k]}
    h = w.history
    led = w.hq.ledger
    knew = sum(1 for k in set(w.lost_verdicts) if k in led.checkins
               and any(v.verdict.value == "already_voted" for v in led.checkins[k].verdict.values()))
    counts = {"checkins_told": sum(1 for t in h.told if t.terminal != "HQ"), "local_stops": h.local_stops,
              "already_voted": len(h.already_voted), "alerts": len(w.hq.ledger.active_alerts()),
              "hq_events": w.hq.log.durable_n, "interrupted": h.interrupted,
              "restart_provisional": w.stats["restart_provisional"], "sched_steps": w.sched.steps,
              "verdict_lost_on_reconnect": len(set(w.lost_verdicts)), "double_ballot_hq_knew": knew}
    return RunReport(seed, bug, mix.summary(), w.sched.now,
                     None if converged_at is None else converged_at - heal_at, faults, violations,
                     w.sched.trace_hash(), counts, w.sched.trace_lines)


__all__ = ["run_seed", "run_world", "RunReport", "BUGS", "HEAL_BOUND_MS", "SECOND"]
