"""What the demo's day came to: each check-in's ``Outcome`` as the driver saw it, and the
``DemoReport`` that counts them (per station, stopped online, double votes injected) beside what
HQ detected and holds. ``ok()`` is the run's verdict: every injected double vote detected, nothing
lost, no acknowledged check-in missing at HQ.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from tooling.demo_day import Attempt, StationPlan
from sync_protocol.codec import PROTOCOL_VERSION


@dataclass
class Outcome:
    attempt: Attempt
    seq: int | None
    handed: list[str]
    withheld: list[str]
    provisional: bool
    refused: dict[str, str]
    latency_ms: float | None
    voided: bool = False


@dataclass
class DemoReport:
    per_station: dict[str, dict[str, int]] = field(default_factory=dict)
    stopped_online: int = 0
    injected_double_votes: int = 0
    detected_double_votes: int = 0
    events_lost: int = 0
    acknowledged_missing: int = 0
    bytes_per_event: float = 0.0
    wire_connections: int = 0  # TLS connections made through the demo's links (each a full handshake)
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    checkins: int = 0
    offline_checkins: int = 0
    voids: int = 0
    absentee: int = 0
    revoked: str = ""
    converged_s: float = 0.0
    wall_s: float = 0.0
    enrollment: str = ""  # smart-card | enroll-local
    enroll_s: float = 0.0
    hq_address: str = ""
    store: str = "sqlite"  # sqlite | postgresql (tooling/demo_pg.py)
    failover_s: float = 0.0  # postgresql: the noon kill to the first online verdict at the new node
    leader_before: str = ""
    leader_after: str = ""
    pg_base: str = ""  # postgresql: where its servers lived (removed at the end, pass or fail)

    def ok(self) -> bool:
        return (self.injected_double_votes == self.detected_double_votes and self.events_lost == 0
                and self.acknowledged_missing == 0)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["code"] = "ok" if self.ok() else "demo_failed"
        return d

    def text(self) -> str:
        how = {"smart-card": "登録カード（PC/SC・仮想カード）", "enroll-local": "直接登録（enroll-local、カードなし）"}
        lines = ["", "══ 投票日の照合結果 ══",
                 f"端末の登録: {how.get(self.enrollment, self.enrollment or '—')}（{self.enroll_s:.1f} 秒）"]
        for st, c in self.per_station.items():
            lines.append(f"  {st}: 受付 {c['checkins']:5d}  オフライン受付 {c['offline']:4d}  "
                         f"投票済で停止 {c['stopped']:3d}  対象外 {c['refused']:4d}")
        lines += [
            f"受付（交付した投票用紙のある受付）: {self.checkins}  うちオフライン受付 {self.offline_checkins}",
            f"取消: {self.voids}   不在者投票（本部）: {self.absentee}   失効した端末: {self.revoked or '—'}",
            f"二重投票を接続中に阻止: {self.stopped_online}",
            f"二重投票（オフライン中に発生）: 注入 {self.injected_double_votes} / 本部が検出 {self.detected_double_votes}"
            + ("  ✓ 一致" if self.injected_double_votes == self.detected_double_votes else "  ✕ 不一致"),
            f"失われた記録: {self.events_lost}   本部にない受付（通知済み）: {self.acknowledged_missing}",
            f"回線上のバイト数（1 記録あたり、TLS 接続 {self.wire_connections} 回・他端末への投票済配信を含む、"
            f"同期プロトコル版 {PROTOCOL_VERSION}）: {self.bytes_per_event:.1f} B",
            f"判定の応答時間: p50 {self.latency_p50_ms:.0f} ms / p99 {self.latency_p99_ms:.0f} ms",
            f"全端末の収束: 回線復旧後 {self.converged_s:.1f} 秒   所要時間 {self.wall_s:.0f} 秒",
        ]
        if self.store == "postgresql":
            lines.append(f"本部の切替: 主系 {self.leader_before or '—'} → {self.leader_after or '—'}、停止から新しい主系の"
                         f"最初のオンライン判定まで {self.failover_s:.1f} 秒（PostgreSQL、正午に主系を停止）")
        lines += [
            "結果: " + ("正常（すべて一致）" if self.ok() else "異常あり"),
        ]
        return "\n".join(lines)


def tally(report: DemoReport, plan: list[StationPlan], outcomes: list[Outcome]) -> None:
    """Count what the poll workers saw into ``report``: check-ins per station, offline ones, hard
    stops, refusals, voids, the ballots per (voter, contest), so the double votes the day
    injected, and the verdict latencies (online answers only)."""
    r = report
    stats: dict[str, dict[str, int]] = {s.station: {"checkins": 0, "offline": 0, "stopped": 0, "refused": 0}
                                       for s in plan}
    ballots: dict[tuple[str, str], int] = {}
    latencies: list[float] = []
    for o in outcomes:
        st = stats[o.attempt.station]
        handed = [c for c in o.handed if c not in o.withheld]
        if o.withheld or any(code == "already_voted" for code in o.refused.values()):
            r.stopped_online += 1
            st["stopped"] += 1
        if handed:
            st["checkins"] += 1
            r.checkins += 1
            if o.provisional:
                st["offline"] += 1
                r.offline_checkins += 1
        elif o.refused and not o.withheld:
            st["refused"] += 1
        if o.voided:
            r.voids += 1
            continue
        for c in handed:
            ballots[(o.attempt.voter, c)] = ballots.get((o.attempt.voter, c), 0) + 1
        if o.latency_ms is not None:
            latencies.append(o.latency_ms)
    r.per_station = stats
    r.injected_double_votes = sum(1 for n in ballots.values() if n >= 2)
    if latencies:
        ordered = sorted(latencies)
        r.latency_p50_ms = statistics.median(ordered)
        r.latency_p99_ms = ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]
