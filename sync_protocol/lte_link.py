"""LTE link model (LTE回線モデル): named profiles and a seeded model of one emulated LTE link.

Pure: no sockets, no clocks, no global randomness. The caller passes a ``random.Random`` and asks
"a chunk of N bytes leaves at real time t (seconds since the link started): when does it arrive?".
The asyncio proxy in ``fault_proxy.py`` is the only I/O around it; the deterministic simulator may
use it directly. Must never import asyncio, socket or anything of the terminal's store.

Rules the model keeps:
- Two time axes. *Real* seconds drive per-chunk effects (RTT, jitter, heavy tail, rate, loss-burst
  retransmissions); *virtual* seconds (= real × ``speed``) drive the schedule (handovers, outages,
  scripted windows such as "10:00-11:30 down"). A demo at 600× compresses an outage of 90 minutes
  into 9 s but still sees a 60 ms RTT.
- LTE hides packet loss behind link-layer retries (HARQ/RLC), so on a TCP stream "loss" is extra
  delay, and a blackout holds data until the radio is back. Nothing is dropped or reordered by the
  model; only a ``down`` window (the proxy cuts connections) loses in-flight bytes.
- Rate limiting is per link and direction (one radio), shared by every connection over it.
- ``up`` is terminal → HQ (client → upstream), ``down`` is HQ → terminal.
"""

from __future__ import annotations

import bisect
import enum
import random
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Sequence

from ground.errors import Problem
from sync_protocol.errors import SyncError


class LinkConfigInvalid(SyncError):
    """A profile name, schedule or address the link emulator cannot use; nothing was started."""

    code = "link_config_invalid"


class Direction(enum.Enum):
    UP = "up"      # terminal → HQ (上り)
    DOWN = "down"  # HQ → terminal (下り)


class WindowKind(enum.Enum):
    BLACKOUT = "blackout"  # radio gone, data held; connections survive (handover, short RLF)
    DOWN = "down"          # link down: connections are cut and new ones refused


class LinkState(enum.Enum):
    UP = "up"
    BLACKOUT = "blackout"
    DOWN = "down"


@dataclass(frozen=True)
class DirectionParams:
    """Per-direction behaviour. Delays are one-way, in real milliseconds."""

    one_way_ms: tuple[float, float]     # base propagation, uniform per chunk
    jitter_ms: float = 0.0              # ± uniform, added per chunk
    rate_bps: float | None = None       # serialisation rate of the radio; None = unlimited
    tail_prob: float = 0.0              # chance a chunk meets the heavy tail (scheduler stall)
    tail_scale_ms: float = 0.0          # Pareto scale of the tail
    tail_alpha: float = 1.5
    tail_cap_ms: float = 3000.0


@dataclass(frozen=True)
class LossBursts:
    """Bursts of radio loss, hidden by link-layer retransmission: chunks sent in a burst are late.

    Real-time axis: bursts are link quality, not schedule, and do not compress with ``speed``.
    """

    every_s: tuple[float, float]        # gap between bursts, uniform
    length_s: tuple[float, float]       # burst duration, uniform
    retx_prob: float                    # chance a chunk in a burst needs retransmissions
    retx_ms: tuple[float, float]        # delay of one retransmission round
    max_rounds: int = 3


@dataclass(frozen=True)
class Handovers:
    """Handover blackouts (ハンドオーバー): virtual-time axis, compressed by ``speed``."""

    every_s: tuple[float, float] = (60.0, 300.0)
    blackout_ms: tuple[float, float] = (30.0, 500.0)


@dataclass(frozen=True)
class Window:
    """A scheduled period in virtual seconds since the link started."""

    start_s: float
    end_s: float
    kind: WindowKind


@dataclass(frozen=True)
class LinkProfile:
    name: str
    description_ja: str
    up: DirectionParams
    down: DirectionParams
    loss_bursts: LossBursts | None = None
    handovers: Handovers | None = None
    windows: tuple[Window, ...] = ()    # e.g. the ``outage`` profile's down period

    def rtt_range_ms(self) -> tuple[float, float]:
        """RTT bounds without tail, bursts, blackouts or serialisation (for tests and docs)."""
        lo = self.up.one_way_ms[0] - self.up.jitter_ms + self.down.one_way_ms[0] - self.down.jitter_ms
        hi = self.up.one_way_ms[1] + self.up.jitter_ms + self.down.one_way_ms[1] + self.down.jitter_ms
        return (max(0.0, lo), hi)

    def params(self, d: Direction) -> DirectionParams:
        return self.up if d is Direction.UP else self.down


_GOOD_UP = DirectionParams(one_way_ms=(25.0, 35.0), jitter_ms=5.0, rate_bps=5e6)
_GOOD_DOWN = DirectionParams(one_way_ms=(25.0, 35.0), jitter_ms=5.0, rate_bps=10e6)

GOOD = LinkProfile(
    name="good", description_ja="電波良好: RTT 50–70 ms ±10 ms, 下り 10 Mbit/s, 上り 5 Mbit/s",
    up=_GOOD_UP, down=_GOOD_DOWN)

CELL_EDGE = LinkProfile(
    name="cell-edge",
    description_ja="セル端: RTT 150–300 ms（重い裾）, 損失バースト, 上り 1 Mbit/s",
    up=DirectionParams(one_way_ms=(75.0, 150.0), jitter_ms=10.0, rate_bps=1e6,
                       tail_prob=0.05, tail_scale_ms=100.0),
    down=DirectionParams(one_way_ms=(75.0, 150.0), jitter_ms=10.0, rate_bps=3e6,
                         tail_prob=0.05, tail_scale_ms=100.0),
    loss_bursts=LossBursts(every_s=(5.0, 30.0), length_s=(0.2, 2.0), retx_prob=0.6,
                           retx_ms=(20.0, 60.0)))

HANDOVER = LinkProfile(
    name="handover",
    description_ja="ハンドオーバー: 電波良好に加え 1–5 分ごとに 30–500 ms の途絶",
    up=_GOOD_UP, down=_GOOD_DOWN, handovers=Handovers())

# A perfect link: no delay, no limits. For tests that need the proxy's plumbing only.
IDEAL = LinkProfile(name="ideal", description_ja="理想回線: 遅延なし（試験用）",
                    up=DirectionParams(one_way_ms=(0.0, 0.0)),
                    down=DirectionParams(one_way_ms=(0.0, 0.0)))


def outage_profile(after_s: float = 0.0, for_s: float = 60.0, base: LinkProfile = GOOD) -> LinkProfile:
    """``outage``: ``base`` link that goes down ``after_s`` virtual seconds after start, for ``for_s``."""
    if after_s < 0 or for_s <= 0:
        raise LinkConfigInvalid(f"障害の開始・長さが不正です: after={after_s} for={for_s}",
                                code="bad_outage")
    return replace(base, name="outage",
                   description_ja=f"回線断: 開始 {after_s:g} 秒後から {for_s:g} 秒間不通（接続は切断・新規は拒否）",
                   windows=base.windows + (Window(after_s, after_s + for_s, WindowKind.DOWN),))


PROFILES: dict[str, LinkProfile] = {p.name: p for p in (GOOD, CELL_EDGE, HANDOVER, IDEAL)}
PROFILES["outage"] = outage_profile()


def profile_named(name: str) -> LinkProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise LinkConfigInvalid(
            f"回線プロファイル {name!r} はありません（{', '.join(sorted(PROFILES))} のいずれか）",
            code="unknown_profile") from None


# --- scripted schedules: "10:00-11:30 down; 14:00-14:00:30 blackout" -------------------------

_ENTRY = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*-\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s+"
                    r"(down|blackout)\s*$")


@dataclass(frozen=True)
class ScheduleEntry:
    """One scripted window in Japan time of day, e.g. 10:00–11:30 down."""

    start: time
    end: time
    kind: WindowKind

    def text(self) -> str:
        return f"{self.start.isoformat()}-{self.end.isoformat()} {self.kind.value}"


def parse_schedule(text: str, *, source: str = "--schedule") -> list[ScheduleEntry]:
    """Parse ``HH:MM[:SS]-HH:MM[:SS] down|blackout`` entries separated by ``;`` or ``,``.

    Every bad entry is reported (entry number as the row); nothing is returned on error.
    """
    entries: list[ScheduleEntry] = []
    problems: list[Problem] = []
    parts = [p for p in re.split(r"[;,]", text)]
    for i, part in enumerate(parts, start=1):
        if not part.strip():
            if len(parts) == 1:
                problems.append(Problem("schedule_empty", "予定が空です（例: 10:00-11:30 down）",
                                        file=source, row=i))
            continue
        m = _ENTRY.match(part)
        if not m:
            problems.append(Problem("schedule_syntax",
                                    f"予定 {part.strip()!r} が読めません（例: 10:00-11:30 down）",
                                    file=source, row=i))
            continue
        h1, m1, s1, h2, m2, s2, kind = m.groups()
        try:
            start = time(int(h1), int(m1), int(s1 or 0))
            end = time(int(h2), int(m2), int(s2 or 0))
        except ValueError:
            problems.append(Problem("schedule_time", f"予定 {part.strip()!r} の時刻が範囲外です",
                                    file=source, row=i))
            continue
        if end <= start:
            problems.append(Problem("schedule_order",
                                    f"予定 {part.strip()!r} は終了が開始より後でなければなりません",
                                    file=source, row=i))
            continue
        entries.append(ScheduleEntry(start, end, WindowKind(kind)))
    if problems:
        raise LinkConfigInvalid("回線の予定が不正です", code="schedule_invalid", problems=problems)
    return entries


def schedule_windows(entries: Sequence[ScheduleEntry], start: datetime) -> list[Window]:
    """Place entries on the virtual axis of a link that starts at ``start`` (Japan time).

    Each entry is its first occurrence that has not ended by ``start``: a link started at 10:30
    with "10:00-11:30 down" is down at once, for 60 virtual minutes.
    """
    out: list[Window] = []
    for e in entries:
        day = start.date()
        for _ in range(2):
            s = datetime.combine(day, e.start, tzinfo=start.tzinfo)
            en = datetime.combine(day, e.end, tzinfo=start.tzinfo)
            if en > start:
                out.append(Window(max(0.0, (s - start).total_seconds()),
                                  (en - start).total_seconds(), e.kind))
                break
            day = day + timedelta(days=1)
    return sorted(out, key=lambda w: w.start_s)


# --- the model ---------------------------------------------------------------------------------


@dataclass
class _Intervals:
    """Sorted, generated-on-demand intervals [start, end) in real seconds."""

    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)

    def add(self, s: float, e: float) -> None:
        i = bisect.bisect_right(self.starts, s)
        self.starts.insert(i, s)
        self.ends.insert(i, e)

    def containing(self, t: float) -> float | None:
        """End of an interval that contains ``t`` (the latest such end), else None."""
        i = bisect.bisect_right(self.starts, t)
        best: float | None = None
        # intervals may overlap; look back a few (they are sparse)
        for j in range(i - 1, max(-1, i - 9), -1):
            if self.ends[j] > t and (best is None or self.ends[j] > best):
                best = self.ends[j]
        return best


class LinkModel:
    """One emulated link: both directions, shared by every connection over it.

    ``rng`` seeds independent streams for handovers, loss bursts and each direction, so the
    handover schedule of a seed does not depend on how much traffic flowed.
    """

    def __init__(self, profile: LinkProfile, rng: random.Random, *,
                 schedule: Sequence[Window] = (), speed: float = 1.0) -> None:
        if speed <= 0:
            raise LinkConfigInvalid(f"速度倍率は正の数でなければなりません: {speed}", code="bad_speed")
        self.speed = speed
        self._rng_handover = random.Random(rng.getrandbits(64))
        self._rng_bursts = random.Random(rng.getrandbits(64))
        self._rng_dir = {Direction.UP: random.Random(rng.getrandbits(64)),
                         Direction.DOWN: random.Random(rng.getrandbits(64))}
        self._wire_free: dict[Direction, float] = {Direction.UP: 0.0, Direction.DOWN: 0.0}
        self._scripted = list(schedule)
        self._handovers = _Intervals()
        self._handover_horizon = 0.0  # real seconds up to which handovers are generated
        self._bursts = _Intervals()
        self._burst_horizon = 0.0
        self._next_handover_v: float | None = None
        self._next_burst: float | None = None
        self.profile = profile
        self.set_profile(profile)

    # -- runtime control --

    def set_profile(self, profile: LinkProfile) -> None:
        """Switch behaviour from now on; generated handovers and bursts restart from the horizon."""
        self.profile = profile
        self._windows = sorted(self._scripted + list(profile.windows), key=lambda w: w.start_s)
        self._next_handover_v = None
        self._next_burst = None

    def real_s(self, virtual_s: float) -> float:
        return virtual_s / self.speed

    def virtual_s(self, real_s: float) -> float:
        return real_s * self.speed

    # -- windows --

    def _gen_handovers(self, until: float) -> None:
        h = self.profile.handovers
        if h is None:
            self._handover_horizon = max(self._handover_horizon, until)
            return
        r = self._rng_handover
        if self._next_handover_v is None:
            self._next_handover_v = self.virtual_s(self._handover_horizon) + r.uniform(*h.every_s)
        while self.real_s(self._next_handover_v) <= until:
            start_v = self._next_handover_v
            dur_v = r.uniform(*h.blackout_ms) / 1000.0
            self._handovers.add(self.real_s(start_v), self.real_s(start_v + dur_v))
            self._next_handover_v = start_v + dur_v + r.uniform(*h.every_s)
        self._handover_horizon = max(self._handover_horizon, until)

    def _gen_bursts(self, until: float) -> None:
        b = self.profile.loss_bursts
        if b is None:
            self._burst_horizon = max(self._burst_horizon, until)
            return
        r = self._rng_bursts
        if self._next_burst is None:
            self._next_burst = self._burst_horizon + r.uniform(*b.every_s)
        while self._next_burst <= until:
            s = self._next_burst
            e = s + r.uniform(*b.length_s)
            self._bursts.add(s, e)
            self._next_burst = e + r.uniform(*b.every_s)
        self._burst_horizon = max(self._burst_horizon, until)

    def handovers_until(self, t: float) -> list[tuple[float, float]]:
        """Handover blackouts (real seconds) that start before ``t``: for tests and reports."""
        self._gen_handovers(t)
        return [(s, e) for s, e in zip(self._handovers.starts, self._handovers.ends) if s < t]

    def state_at(self, t: float) -> LinkState:
        """Scripted/profile windows first (DOWN beats BLACKOUT), then handovers."""
        v = self.virtual_s(t)
        state = LinkState.UP
        for w in self._windows:
            if w.start_s > v:
                break
            if w.start_s <= v < w.end_s:
                if w.kind is WindowKind.DOWN:
                    return LinkState.DOWN
                state = LinkState.BLACKOUT
        if state is LinkState.UP:
            self._gen_handovers(t)
            if self._handovers.containing(t) is not None:
                state = LinkState.BLACKOUT
        return state

    def down_changes_after(self, t: float) -> float | None:
        """Real time of the next start or end of a DOWN window after ``t`` (for the proxy)."""
        v = self.virtual_s(t)
        best: float | None = None
        for w in self._windows:
            if w.kind is not WindowKind.DOWN:
                continue
            for edge in (w.start_s, w.end_s):
                if edge > v and (best is None or edge < best):
                    best = edge
        return None if best is None else self.real_s(best)

    def _after_holds(self, t: float) -> float:
        """Move ``t`` past any blackout or down window it falls in (radio holds the data)."""
        for _ in range(1000):
            self._gen_handovers(t + 1.0)
            end = self._handovers.containing(t)
            v = self.virtual_s(t)
            for w in self._windows:
                if w.start_s > v:
                    break
                if w.start_s <= v < w.end_s:
                    we = self.real_s(w.end_s)
                    end = we if end is None else max(end, we)
            if end is None:
                return t
            t = end
        return t

    # -- per chunk --

    def transmit(self, direction: Direction, t_send: float, nbytes: int) -> float:
        """Arrival time (real s) of ``nbytes`` handed to the radio at ``t_send``.

        Not monotone on its own (jitter); ``OrderedPipe`` adds TCP's in-order delivery.
        """
        p = self.profile.params(direction)
        r = self._rng_dir[direction]
        start_tx = self._after_holds(max(t_send, self._wire_free[direction]))
        tx = (nbytes * 8.0 / p.rate_bps) if p.rate_bps else 0.0
        self._wire_free[direction] = start_tx + tx
        delay_ms = r.uniform(*p.one_way_ms)
        if p.jitter_ms:
            delay_ms += r.uniform(-p.jitter_ms, p.jitter_ms)
        if p.tail_prob and r.random() < p.tail_prob:
            delay_ms += min(p.tail_cap_ms, p.tail_scale_ms * (r.paretovariate(p.tail_alpha) - 1.0))
        b = self.profile.loss_bursts
        if b is not None:
            self._gen_bursts(start_tx + 1.0)
            if self._bursts.containing(start_tx) is not None:
                rounds = 0
                while rounds < b.max_rounds and r.random() < b.retx_prob:
                    rounds += 1
                    delay_ms += r.uniform(*b.retx_ms)
        arrival = start_tx + tx + max(0.0, delay_ms) / 1000.0
        return self._after_holds(arrival)


class OrderedPipe:
    """One direction of one TCP connection: delivery times never go backwards (no reordering)."""

    def __init__(self, model: LinkModel, direction: Direction) -> None:
        self.model = model
        self.direction = direction
        self.last = 0.0

    def schedule(self, t_send: float, nbytes: int) -> float:
        at = max(self.last, self.model.transmit(self.direction, t_send, nbytes))
        self.last = at
        return at
