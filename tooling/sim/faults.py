"""The fault mix of one seed, drawn from the seed alone and printed with every run.

Owns the *parameters* of a run (how many terminals and voters, how lossy the links are, when
partitions, crashes and clock steps happen); the components only carry them out. Pure: takes a
``random.Random``, never reads the clock. Ranges follow TigerBeetle's VOPR and FoundationDB's
simulator (LEARNED.md): loss 0–30 %, duplication 0–50 %, partitions from seconds to hours,
swizzle-clogging (links stopped one by one, restored in random order).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
CONTESTS = ("shugiin", "hirei", "kokumin", "chiji", "shicho")


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    terminals: tuple[str, ...]  # clogged links (a group of one or more terminals)


@dataclass(frozen=True)
class Visit:
    """A voter at a station's desk, asking for ballots."""

    at: int
    voter: str
    terminal: str
    contests: tuple[str, ...]
    kind: str  # "first", "double", "revisit" (after a void)


@dataclass(frozen=True)
class FaultMix:
    seed: int
    terminals: tuple[str, ...]
    contests: tuple[str, ...]
    safety_ms: int
    loss: float
    dup: float
    reorder: float
    delay_ms: tuple[int, int]  # one-way base delay range
    spike: float  # probability a packet meets a delay spike (cell edge, handover)
    conn_drop_per_hour: float
    fsync_ms: tuple[int, int]
    partitions: tuple[Window, ...]
    swizzle: tuple[Window, ...]  # links clogged one by one, restored in random order
    term_crashes: tuple[tuple[int, str, int, bool], ...]  # (at, terminal, downtime, armed)
    hq_crashes: tuple[tuple[int, int], ...]  # (at, downtime)
    drift_ppm: dict[str, int] = field(default_factory=dict)
    clock_steps: tuple[tuple[int, str, int], ...] = ()  # (at, terminal, delta ms)
    visits: tuple[Visit, ...] = ()
    void_p: float = 0.0
    absentee: tuple[tuple[int, str, tuple[str, ...]], ...] = ()
    replay: float = 0.0  # probability that a middlebox replays an old BATCH after a new one
    max_batch: int = 500  # TerminalLink batch size and window: small ones exercise back-pressure
    window: int = 4
    flag_limit: int = 5000  # flags per FLAGS frame: small ones exercise paging
    handover: bool = False  # radio drops are handovers, noticed within 300 ms and redialled at once

    def summary(self) -> dict[str, object]:
        return {
            "terminals": len(self.terminals), "voters": len({v.voter for v in self.visits}),
            "visits": len(self.visits), "safety_h": round(self.safety_ms / HOUR, 2),
            "loss": round(self.loss, 3), "dup": round(self.dup, 3), "reorder": round(self.reorder, 3),
            "delay_ms": list(self.delay_ms), "spike": round(self.spike, 3),
            "conn_drop_per_hour": round(self.conn_drop_per_hour, 2), "fsync_ms": list(self.fsync_ms),
            "partitions": [[w.start, w.end - w.start, list(w.terminals)] for w in self.partitions],
            "swizzle": [[w.start, w.end - w.start, list(w.terminals)] for w in self.swizzle],
            "term_crashes": [list(c) for c in self.term_crashes], "hq_crashes": [list(c) for c in self.hq_crashes],
            "drift_ppm": dict(self.drift_ppm), "clock_steps": [list(s) for s in self.clock_steps],
            "double_visits": sum(1 for v in self.visits if v.kind == "double"),
            "void_p": round(self.void_p, 3), "absentee": len(self.absentee), "replay": round(self.replay, 3),
            "max_batch": self.max_batch, "window": self.window, "flag_limit": self.flag_limit,
            "handover": self.handover,
        }


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def draw_mix(seed: int, rng: random.Random) -> FaultMix:
    n_term = rng.randint(2, 5)
    terms = tuple(f"T{i + 1:02d}" for i in range(n_term))
    contests = CONTESTS[: rng.randint(1, 3)]
    safety = rng.choice((1, 2, 3)) * HOUR
    # each fault family is switched on for a seed with some probability, so that some seeds are
    # calm and others are storms (FoundationDB: fault points fire with per-run probabilities)
    loss = rng.uniform(0, 0.30) if rng.random() < 0.7 else 0.0
    dup = rng.uniform(0, 0.50) if rng.random() < 0.5 else 0.0
    reorder = rng.uniform(0, 0.3) if rng.random() < 0.5 else 0.0
    lo = rng.randint(20, 120)
    delay = (lo, lo + rng.randint(5, 150))
    spike = rng.uniform(0, 0.05) if rng.random() < 0.5 else 0.0
    drop = rng.uniform(0, 20) if rng.random() < 0.5 else 0.0
    f_lo = rng.randint(1, 10)
    fsync = (f_lo, f_lo + rng.randint(0, 30))

    partitions = []
    for _ in range(rng.choice((0, 0, 1, 2, 3, 5))):
        dur = _log_uniform(rng, 2 * SECOND, 2 * HOUR)
        start = rng.randint(0, max(1, safety - dur // 2))
        k = rng.choice((1, 1, 1, 2, n_term))  # one terminal, a group, or HQ cut off from all
        group = tuple(sorted(rng.sample(terms, min(k, n_term))))
        partitions.append(Window(start, min(start + dur, safety), group))
    swizzle = []
    if rng.random() < 0.3:
        start = rng.randint(0, safety // 2)
        order_in = rng.sample(terms, n_term)
        order_out = rng.sample(terms, n_term)
        span = _log_uniform(rng, 10 * SECOND, 30 * MINUTE)
        ins = {t: start + i * span // (2 * n_term) for i, t in enumerate(order_in)}
        outs = {t: start + span + i * span // (2 * n_term) for i, t in enumerate(order_out)}
        swizzle = [Window(ins[t], max(ins[t] + 1, outs[t]), (t,)) for t in terms]

    term_crashes = []
    for _ in range(rng.choice((0, 0, 1, 2, 4))):
        term_crashes.append((rng.randint(0, safety - 1), rng.choice(terms),
                             _log_uniform(rng, SECOND, 10 * MINUTE), rng.random() < 0.6))
    hq_crashes = [(rng.randint(0, safety - 1), _log_uniform(rng, SECOND, 5 * MINUTE))
                  for _ in range(rng.choice((0, 0, 1, 2, 3)))]
    drift = {t: rng.randint(-300, 300) for t in terms if rng.random() < 0.5}
    steps = [(rng.randint(0, safety - 1), rng.choice(terms), rng.choice((-1, 1)) * _log_uniform(rng, 500, 2 * HOUR))
             for _ in range(rng.choice((0, 0, 1, 2)))]

    n_voters = rng.randint(8, 30)
    double_p = rng.uniform(0.05, 0.3)
    visits: list[Visit] = []
    windows = partitions + swizzle
    for i in range(n_voters):
        voter = f"{100000 + i}"
        mine = tuple(c for c in contests if rng.random() < 0.8) or contests[:1]
        t1 = rng.randint(0, safety - 1)
        term1 = rng.choice(terms)
        visits.append(Visit(t1, voter, term1, mine, "first"))
        if rng.random() < double_p:
            term2 = rng.choice([t for t in terms if t != term1])
            offline = [w for w in windows if term1 in w.terminals or term2 in w.terminals]
            if offline and rng.random() < 0.5:  # the second visit while either station is offline
                w = rng.choice(offline)
                t2 = rng.randint(w.start, max(w.start, w.end - 1))
            else:
                t2 = t1 + rng.choice((rng.randint(0, 5 * SECOND), _log_uniform(rng, SECOND, HOUR)))
            visits.append(Visit(min(t2, safety - 1), voter, term2, mine, "double"))
    visits.sort(key=lambda v: (v.at, v.voter, v.terminal))
    void_p = rng.uniform(0, 0.15) if rng.random() < 0.5 else 0.0
    absentee = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        voter = f"{100000 + rng.randrange(n_voters + 3)}"  # some on a station's list too
        absentee.append((rng.randint(0, safety - 1), voter, contests))
    replay = rng.uniform(0, 0.3) if rng.random() < 0.3 else 0.0
    max_batch = rng.choice((1, 2, 3, 500, 500))
    window = rng.choice((1, 2, 4))
    flag_limit = rng.choice((1, 2, 5, 5000, 5000))
    handover = rng.random() < 0.3
    if handover and not drop:
        drop = rng.uniform(10, 60)  # a moving cell edge: handovers every one to six minutes
    return FaultMix(seed, terms, contests, safety, loss, dup, reorder, delay, spike, drop, fsync,
                    tuple(partitions), tuple(swizzle), tuple(term_crashes), tuple(hq_crashes), drift,
                    tuple(steps), tuple(visits), void_p, tuple(absentee), replay, max_batch, window, flag_limit, handover)
