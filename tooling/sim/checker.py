"""Jepsen-style checker, run after every simulated election.

It builds its own model of what happened from the terminals' durable journals (the ground
truth of what each station wrote) and HQ's absentee events, independently of ``Ledger``, and
compares HQ and every terminal against it:

1. every check-in acknowledged to a poll worker is at HQ exactly once (and HQ counts every
   ballot the poll worker was told to hand over);
2. HQ holds nothing that no terminal wrote (its log equals the journals, position by position);
3. every voter with two non-voided, non-withheld ballots of one contest has an active alert
   naming exactly those ballots, and no one else has one;
4. no voter received ALREADY_VOTED wrongly: the verdict named an earlier ballot that really
   existed and was not voided or withheld in what HQ held at that time;
5. a voted flag never went back to not-voted without a void (at HQ and on every terminal);
6. after heal every terminal holds HQ's voted set, and HQ rebuilt from its log equals HQ.
Pure: reads the world, writes nothing.
"""

from __future__ import annotations

from ground.events import Event, EventKind
from ground.model import HQ_TERMINAL
from hq.ledger import CState
from tooling.sim.world import World


def _ballots(journals: dict[str, list[Event]], prefix: dict[str, int] | None = None
             ) -> dict[tuple[str, str], set[tuple[str, int]]]:
    """(voter, contest) -> ballots (terminal, seq): check-ins naming the contest, minus those
    voided, minus contests withheld."""
    out: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for tid, evs in journals.items():
        n = len(evs) if prefix is None else prefix.get(tid, 0)
        withheld: dict[int, set[str]] = {}
        voided: set[int] = set()
        for e in evs[:n]:
            if e.kind is EventKind.WITHHELD:
                withheld.setdefault(e.ref, set()).update(e.contests)
            elif e.kind is EventKind.VOID:
                voided.add(e.ref)
        for e in evs[:n]:
            if e.kind in (EventKind.CHECKIN, EventKind.ABSENTEE) and e.seq not in voided:
                for c in e.contests:
                    if c not in withheld.get(e.seq, ()):
                        out.setdefault((e.voter, c), set()).add((tid, e.seq))
    return out


def check(w: World, converged: bool) -> list[str]:
    v: list[str] = list(w.history.violations)
    led = w.hq.ledger
    hq_log = w.hq.log.durable()
    journals: dict[str, list[Event]] = {tid: t.journal.durable() for tid, t in w.terminals.items()}
    journals[HQ_TERMINAL] = [e for e in hq_log if e.terminal == HQ_TERMINAL]

    # 0. each journal's hybrid timestamps strictly increase, whatever the wall clock did
    for tid, evs in journals.items():
        for a, b in zip(evs, evs[1:]):
            if b.hlc <= a.hlc:
                v.append(f"{tid}: HLC went backwards at #{b.seq} ({a.hlc} -> {b.hlc})")
                break

    # 2. HQ holds nothing that no terminal wrote; per terminal, positions 1..n exactly once
    seen: dict[str, int] = {}
    for e in hq_log:
        n = seen.get(e.terminal, 0) + 1
        seen[e.terminal] = n
        if e.seq != n:
            v.append(f"HQ log: {e.terminal}#{e.seq} out of place (expected #{n})")
            continue
        j = journals.get(e.terminal)
        if j is None or e.seq > len(j) or j[e.seq - 1].encode() != e.encode():
            v.append(f"HQ holds {e.terminal}#{e.seq} ({e.kind.value}) that the terminal never wrote durably")

    # 1. acknowledged check-ins are at HQ exactly once, with every handed ballot counted
    for told in w.history.told:
        j = journals.get(told.terminal, [])
        if told.seq > len(j) or j[told.seq - 1].kind not in (EventKind.CHECKIN, EventKind.ABSENTEE) \
                or j[told.seq - 1].voter != told.voter:
            v.append(f"acknowledged check-in {told.terminal}#{told.seq} ({told.voter}) lost from the terminal's journal")
            continue
        if seen.get(told.terminal, 0) < told.seq:
            v.append(f"acknowledged check-in {told.terminal}#{told.seq} ({told.voter}) never reached HQ")
            continue
        rec = led.checkins.get((told.terminal, told.seq))
        if rec is None:
            v.append(f"acknowledged check-in {told.terminal}#{told.seq} missing from HQ's ledger")
            continue
        for c in told.handed:
            if rec.state.get(c) not in (CState.BALLOT, CState.VOIDED):
                v.append(f"ballot {c} handed at {told.terminal}#{told.seq} ({told.voter}) is "
                         f"{rec.state.get(c)} at HQ, not a ballot")

    # 3. alerts: exactly the double votes of the ground truth
    truth = _ballots(journals)
    expected = {k: b for k, b in truth.items() if len(b) >= 2}
    actual: dict[tuple[str, str], set[tuple[str, int]]] = {
        (a.voter, a.contest): {(r.terminal, r.seq) for r in a.ballots} for a in led.active_alerts()}
    for k in sorted(set(expected) | set(actual)):
        if expected.get(k) != actual.get(k):
            v.append(f"alert for {k[0]}/{k[1]}: expected ballots {sorted(expected.get(k, ()))}, "
                     f"HQ alerts {sorted(actual.get(k, ()))}")
    if converged and led.voted_set() != set(truth):
        diff = sorted(led.voted_set() ^ set(truth))[:5]
        v.append(f"HQ voted set differs from the journals: {diff}")

    # 4. ALREADY_VOTED only when an earlier, live ballot existed in what HQ held
    for s in w.history.already_voted:
        cands = w.history.hq_verdicts.get((s.terminal, s.seq, s.contest), [])
        ok = False
        for first_t, first_seq, prefix in cands:
            if first_t != s.first_terminal:
                continue
            fj = journals.get(first_t, [])
            if first_seq > len(fj) or first_seq > prefix:
                continue
            fe = fj[first_seq - 1]
            if fe.hlc != s.first_hlc or s.contest not in fe.contests:
                continue
            held = _ballots({first_t: fj}, {first_t: prefix})
            if (first_t, first_seq) in held.get((fe.voter, s.contest), set()):
                ok = True
        if not ok:
            v.append(f"{s.terminal}#{s.seq} got ALREADY_VOTED for {s.contest} naming {s.first_terminal} "
                     f"hlc {s.first_hlc}, which was no live ballot at HQ then")

    # 5. flags removed on a terminal only through a void somewhere
    voided_keys: set[tuple[str, str]] = set()
    for tid, evs in journals.items():
        by_seq = {e.seq: e for e in evs}
        for e in evs:
            if e.kind is EventKind.VOID and e.ref in by_seq:
                for c in by_seq[e.ref].contests:
                    voided_keys.add((by_seq[e.ref].voter, c))
    for where, voter, contest, at in w.history.removals:
        if (voter, contest) not in voided_keys:
            v.append(f"t={at}ms {where}: voted flag {voter}/{contest} went back to not-voted without a void")

    # 6. convergence, and HQ's state is a function of its committed log
    if not converged:
        lag = [tid for tid, t in w.terminals.items() if not t.converged_with(led.voted_set())]
        v.append(f"no convergence within the heal bound (terminals behind: {lag})")
    if converged and w.hq.up:
        fresh = w.hq.fresh_ledger()
        if (fresh.voted_set() != led.voted_set() or len(fresh.flags) != len(led.flags)
                or [(a.voter, a.contest, a.active) for a in fresh.alert_log]
                != [(a.voter, a.contest, a.active) for a in led.alert_log]):
            v.append("HQ rebuilt from its log differs from the running HQ")
    return v
