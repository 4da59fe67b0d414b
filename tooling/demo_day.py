"""The demo's election and its script: the stations (and which one loses its link), the
election.toml HQ is created from, who is eligible, and every arrival of the two days, including
the double votes the run injects (a voter at a second station, stopped online or, while a station
is offline, handed a second ballot that HQ must flag). Pure apart from reading the roll CSV.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ground.errors import MeiboError

ELECTION_DAY = date(2027, 4, 25)
SATURDAY = ELECTION_DAY - timedelta(days=1)
CONTESTS = ("governor", "mayor")


@dataclass(frozen=True)
class StationPlan:
    station: str
    name: str
    kind: str  # early | common | day
    profile: str  # LTE profile name
    district: int | None = None
    outage: tuple[float, float] | None = None  # sim hours of the day, e.g. (10.0, 11.0)

    @property
    def day(self) -> date:
        return SATURDAY if self.kind == "early" else ELECTION_DAY

    @property
    def terminal(self) -> str:
        return "T" + self.station


def plan_stations(n: int) -> list[StationPlan]:
    pool = [
        StationPlan("E01", "中区役所 期日前投票所", "early", "good"),
        StationPlan("E02", "港北区役所 期日前投票所", "early", "cell-edge"),
        StationPlan("C01", "横浜駅 共通投票所", "common", "good", outage=(10.0, 11.5)),
        StationPlan("D01", "本町小学校", "day", "good", district=1),
        StationPlan("E03", "関内駅前 期日前投票所", "early", "handover"),
        StationPlan("C02", "新横浜駅 共通投票所", "common", "good"),
        StationPlan("E04", "青葉区役所 期日前投票所", "early", "good"),
        StationPlan("C03", "戸塚駅 共通投票所", "common", "cell-edge"),
        StationPlan("D02", "港中学校", "day", "good", district=2),
    ]
    if n < 4 or n > len(pool):
        raise MeiboError(f"--stations は 4〜{len(pool)} で指定してください", code="demo_stations")
    return pool[:n]


def election_toml(stations: list[StationPlan], hq_port: int) -> str:
    out = ['[election]', 'id = "demo-2027"', 'name = "神奈川県知事選挙・横浜市長選挙（デモ）"',
           f'election_day = "{ELECTION_DAY}"', 'early_voting_start = "2027-04-12"', '',
           '[hq]', f'address = "127.0.0.1:{hq_port}"', '',
           '[[contest]]', 'id = "governor"', 'name = "神奈川県知事選挙"', 'level = "prefectural"',
           'early_voting_start = "2027-04-09"', '',
           '[[contest]]', 'id = "mayor"', 'name = "横浜市長選挙"', 'level = "municipal"', '']
    for s in stations:
        out += ['[[station]]', f'id = "{s.station}"', f'name = "{s.name}"', f'kind = "{s.kind}"']
        if s.district is not None:
            out.append(f"district = {s.district}")
        out += ['[[station.open]]', 'hours = "07:00-20:00"' if s.kind != "early" else 'hours = "07:00-20:00"', '']
    return "\n".join(out)


@dataclass
class Attempt:
    at_hour: float  # sim hour of its station's day (7.0 … 20.0)
    station: str
    voter: str
    kind: str = "normal"  # normal | second_online | second_offline | absentee_holder | void


def eligible_voters(roll: Path) -> dict[int, list[str]]:
    """Registered voters aged 18+ on Saturday, by district."""
    out: dict[int, list[str]] = {}
    with open(roll, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            if row["状態"] not in ("", "登録"):
                continue
            b = date.fromisoformat(row["生年月日"])
            if (SATURDAY.year - b.year - ((SATURDAY.month, SATURDAY.day) < (b.month, b.day))) < 18:
                continue
            out.setdefault(int(row["投票区"]), []).append(row["選挙人番号"])
    return out


def make_attempts(plan: list[StationPlan], eligible: dict[int, list[str]], rng: random.Random, n_checkins: int,
                  hours: float) -> dict[str, list[Attempt]]:
    """Arrivals by hour (a turnout curve), second visits and the scripted incidents: the voters
    who try a second station (stopped online, or two ballots while a station is offline) and the
    voids. Draws from ``rng`` in a fixed order, so a seed replays the same day."""
    curve = [0.6, 1.0, 1.3, 1.2, 1.0, 0.9, 1.0, 1.1, 1.1, 1.0, 0.9, 0.8, 0.7]
    per_station: dict[str, list[Attempt]] = {s.station: [] for s in plan}
    all_districts = sorted(eligible)
    used: set[str] = set()

    def pick(district: int | None) -> str:
        pool = eligible[district] if district is not None else eligible[rng.choice(all_districts)]
        for _ in range(50):
            v = rng.choice(pool)
            if v not in used:
                used.add(v)
                return v
        return rng.choice(pool)

    base = n_checkins / len(plan)
    n_hours = max(1, int(hours))
    weights = [curve[h % len(curve)] for h in range(n_hours)]
    for s in plan:
        for h in range(n_hours):
            n = max(1, round(base * weights[h] / sum(weights)))
            for _ in range(n):
                per_station[s.station].append(Attempt(7 + h + rng.random(), s.station, pick(s.district)))
    early = [s for s in plan if s.kind == "early"]
    sunday = [s for s in plan if s.kind != "early"]
    offline = next((s for s in plan if s.outage), None)
    # 1. voted early on Saturday, back on Sunday with the 入場券 (stopped online)
    sat = [a for s in early for a in per_station[s.station]]
    for a in rng.sample(sat, min(len(sat), max(3, len(sat) // 40))):
        st = rng.choice([s for s in sunday if s.district is None])
        per_station[st.station].append(Attempt(7 + rng.random() * (hours - 1), st.station, a.voter,
                                               "second_online"))
    # 2. two Sunday stations while one of them is offline (two ballots: must be detected)
    if offline is not None:
        others = [s for s in sunday if s is not offline and s.district is None] or \
                 [s for s in sunday if s is not offline]
        for _ in range(max(2, n_checkins // 400)):
            # early in the outage, the offline station first: it cannot know, and the other
            # station's HQ cannot either, so both hand out ballots (HQ must flag it later)
            other = rng.choice(others)
            v = pick(other.district)
            start, end = offline.outage or (0.0, 0.0)
            t = start + 0.05 + rng.random() * 0.25 * (end - start)
            per_station[offline.station].append(Attempt(t, offline.station, v, "second_offline"))
            per_station[other.station].append(Attempt(t + 0.02, other.station, v, "second_offline"))
    # 3. voids (the voter left without voting)
    for s in plan:
        for a in rng.sample(per_station[s.station], max(1, len(per_station[s.station]) // 200)):
            a.kind = "void" if a.kind == "normal" else a.kind
    for lst in per_station.values():
        lst.sort(key=lambda a: a.at_hour)
    return per_station
