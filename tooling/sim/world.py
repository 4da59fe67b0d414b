"""One simulated election: N terminals, one HQ, their links, and the faults of the seed.

Owns wiring and the fault schedule (when partitions start and end, who crashes when, when
clocks step, when voters arrive). Pure: virtual time and seeded randomness only.
"""

from __future__ import annotations

from collections import Counter

from nacl.signing import SigningKey

from ground.events import Event
from tooling.sim.faults import HOUR, MINUTE, SECOND, FaultMix, Visit
from tooling.sim.history import History, Told
from tooling.sim.hq import SimHq
from tooling.sim.net import Net
from tooling.sim.scheduler import Scheduler, substream
from tooling.sim.terminal import SimClock, SimTerminal

ELECTION = "sim-2027"


class World:
    def __init__(self, seed: int, mix: FaultMix, bug: str | None = None, keep_trace: bool = False) -> None:
        self.seed, self.mix, self.bug = seed, mix, bug
        self.election = ELECTION
        self.sched = Scheduler(keep_trace)
        self.stats: Counter[str] = Counter()
        self.history = History()
        self.healing = False
        self.lost_verdicts: list[tuple[str, int]] = []  # check-ins whose verdict a reconnect lost
        self.net = Net(self.sched, substream(seed, "net"), mix, self.stats)
        self.rng = substream(seed, "world")
        self.terminals: dict[str, SimTerminal] = {}
        for i, tid in enumerate(mix.terminals):
            rng = substream(seed, f"terminal/{tid}")
            key = SigningKey(rng.randbytes(32))
            clock = SimClock(lambda: self.sched.now, mix.drift_ppm.get(tid, 0))
            t = SimTerminal(self, tid, f"E{i + 1:02d}", key, rng, clock)
            self.terminals[tid] = t
            self.net.terms[tid] = t
        self.hq = SimHq(self, substream(seed, "hq"), SimClock(lambda: self.sched.now))
        self.net.hq = self.hq
        self._schedule_faults()

    # --- the fault schedule ----------------------------------------------------------------------
    def _schedule_faults(self) -> None:
        m, s = self.mix, self.sched
        for kind, windows in (("partition", m.partitions), ("swizzle", m.swizzle)):
            for w in windows:
                s.at(w.start, self._clog, w.terminals, kind)
                s.at(w.end, self._unclog, w.terminals)
        for at, tid, downtime, armed in m.term_crashes:
            if armed:
                s.at(at, self._arm, tid, downtime)
            else:
                s.at(at, self.fault_crash_terminal, tid, downtime)
        for at, downtime in m.hq_crashes:
            s.at(at, self._crash_hq, downtime)
        for at, tid, delta in m.clock_steps:
            s.at(at, self._step_clock, tid, delta)
        self.stats["drift"] += len(m.drift_ppm)
        for v in m.visits:
            s.at(v.at, self._arrive, v)
        for at, voter, contests in m.absentee:
            s.at(at, self._absentee, voter, contests)

    def _clog(self, terms: tuple[str, ...], kind: str) -> None:
        if self.healing:
            return
        self.stats[kind] += 1
        self.sched.trace(f"{kind} {','.join(terms)}")
        for t in terms:
            self.net.clog(t)

    def _unclog(self, terms: tuple[str, ...]) -> None:
        for t in terms:
            self.net.unclog(t)

    def _arm(self, tid: str, downtime: int) -> None:
        if not self.healing:
            self.terminals[tid].arm_crash(self.rng.randint(0, 2 * SECOND), downtime)

    def fault_crash_terminal(self, tid: str, downtime: int) -> None:
        if not self.healing:
            self.terminals[tid].crash(downtime)

    def _crash_hq(self, downtime: int) -> None:
        if not self.healing:
            self.hq.crash(downtime)

    def _step_clock(self, tid: str, delta: int) -> None:
        if not self.healing:
            self.stats["clock_step"] += 1
            self.terminals[tid].clock.offset += delta

    def _arrive(self, v: Visit) -> None:
        if v.kind == "double":
            self.stats["double_visit"] += 1
        self.terminals[v.terminal].arrive(v)

    def revisit(self, voter: str, contests: tuple[str, ...], not_at: str) -> None:
        """A voter whose check-in was voided comes back later, maybe elsewhere."""
        if self.healing:
            return
        tid = self.rng.choice(self.mix.terminals)
        self.stats["revisit"] += 1
        self.sched.after(self.rng.randint(MINUTE, 30 * MINUTE), self._arrive,
                         Visit(self.sched.now, voter, tid, contests, "revisit"))

    def _absentee(self, voter: str, contests: tuple[str, ...]) -> None:
        if not self.hq.absentee(voter, contests):
            self.sched.after(MINUTE, self._absentee, voter, contests)  # HQ is down: enter it later
        else:
            self.stats["absentee"] += 1

    def absentee_done(self, ev: Event) -> None:
        self.history.told.append(Told("HQ", ev.seq, ev.voter, ev.contests, self.sched.now))

    # --- heal ---------------------------------------------------------------------------------------
    def heal(self) -> None:
        """Faults off: links clear, crashed nodes come back, terminals reconnect."""
        self.healing = True
        self.net.heal()
        self.sched.trace("heal")
        if not self.hq.up:
            self.hq.restart()
        for tid in self.mix.terminals:
            t = self.terminals[tid]
            t.crash_armed_delay = None
            if not t.up:
                t.restart()
            t.reconnect_now()

    def converged(self) -> bool:
        hq = self.hq
        if not hq.up or hq.inflight is not None or hq.open.events or hq.log.dirty:
            return False
        voted = hq.ledger.voted_set()
        return all(t.converged_with(voted) for t in self.terminals.values())


__all__ = ["World", "ELECTION", "HOUR"]
