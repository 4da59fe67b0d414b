"""A deterministic election day for the console's screenshots, presenter tests and docs.

Builds a ``RecordsLedger`` by applying journal events exactly as HQ would after verification
(``Ledger.apply``), so every figure on the screen comes from the real records code. Pure: no
Kivy, no I/O; the seed fixes everything.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ground.clock import JST
from ground.config import parse_config
from ground.events import Event, EventKind
from ground.hlc import pack
from ground.model import ElectionConfig, StationId, TerminalId
from hq.ledger import CState
from hq.records import HqFacts, RecordsLedger, hlc_dt

DEMO_TOML = """
[election]
id = "yokohama-2027"
name = "同日選挙（デモ）"
election_day = "2027-04-25"
early_voting_start = "2027-04-12"
early_voting_end = "2027-04-24"

[hq]
address = "10.20.0.1:8443"

[[contest]]
id = "shu"
name = "衆議院小選挙区選出議員選挙"
level = "national"

[[contest]]
id = "governor"
name = "神奈川県知事選挙"
level = "prefectural"

[[station]]
id = "E01"
name = "中区役所 期日前投票所"
kind = "early"
[[station.open]]
from = "2027-04-12"
to = "2027-04-24"
hours = "08:30-20:00"

[[station]]
id = "C01"
name = "横浜駅 共通投票所"
kind = "common"
[[station.open]]
hours = "07:00-20:00"

[[station]]
id = "D01"
name = "本町小学校"
kind = "day"
district = 1
[[station.open]]
hours = "07:00-20:00"

[[station]]
id = "D02"
name = "港中学校"
kind = "day"
district = 2
[[station.open]]
hours = "07:00-20:00"
"""

DEMO_DAY = datetime(2027, 4, 25, 0, 0, tzinfo=JST)
DEMO_NOW = datetime(2027, 4, 25, 15, 12, tzinfo=JST)


def demo_config() -> ElectionConfig:
    return parse_config(DEMO_TOML.encode("utf-8"))


@dataclass
class EventMaker:
    """Journal events per terminal with consecutive sequence numbers, applied to a ledger."""

    ledger: RecordsLedger
    seqs: dict[str, int] = field(default_factory=dict)

    def terminal(self, terminal: str, station: str) -> None:
        self.ledger.register(TerminalId(terminal), StationId(station), b"\x00" * 32)
        self.seqs.setdefault(terminal, 0)

    def emit(self, terminal: str, kind: EventKind, at: datetime, data: dict[str, Any]) -> Event:
        self.seqs[terminal] = self.seqs.get(terminal, 0) + 1
        ev = Event(kind, self.seqs[terminal], pack(int(at.timestamp() * 1000), self.seqs[terminal] & 0xFF),
                   TerminalId(terminal), data)
        self.ledger.apply(ev)
        return ev

    def checkin(self, terminal: str, station: str, voter: str, at: datetime, contests: list[str],
                clerk: str = "clerk1") -> Event:
        return self.emit(terminal, EventKind.CHECKIN, at, {"station": station, "clerk": clerk, "voter": voter,
                                                           "contests": contests})

    def count(self, terminal: str, at: datetime, contest: str, hour: int, issued: int) -> Event:
        return self.emit(terminal, EventKind.COUNT, at, {"contest": contest, "hour": hour, "issued": issued})


TERMINALS = {"T-E01-1": "E01", "T-C01-1": "C01", "T-C01-2": "C01", "T-D01-1": "D01"}


def demo_ledger(seed: int = 7, voters_per_hour: int = 9) -> tuple[RecordsLedger, HqFacts]:
    """Election day until 15:12: four terminals (D02 has none enrolled), hourly 交付数 with one
    station one ballot above 名簿対照数, one double vote between C01 and D01 being investigated,
    one already resolved, one voided check-in, contacts with LTE signal for some terminals."""
    cfg = demo_config()
    rnd = random.Random(seed)
    ledger = RecordsLedger(cfg.election_id)
    mk = EventMaker(ledger)
    for t, s in TERMINALS.items():
        mk.terminal(t, s)
    contests = ["shu", "governor"]
    voter_no = 200000
    day_terms = ["T-C01-1", "T-C01-2", "T-D01-1"]
    for hour in range(7, 16):
        for t in day_terms:
            n = rnd.randint(max(1, voters_per_hour - 4), voters_per_hour + 4) // (2 if t == "T-C01-2" else 1)
            if hour == 15:
                n = n // 5
            for i in range(n):
                voter_no += 1
                at = DEMO_DAY.replace(hour=hour, minute=min(59, int(60 * i / max(n, 1))))
                mk.checkin(t, TERMINALS[t], str(voter_no), at, contests, clerk=f"{TERMINALS[t]}-係{1 + i % 2}")
    # a voter who voted early at E01, then again on the day at C01 while C01 was offline
    early = DEMO_DAY.replace(day=22, hour=10, minute=14)
    mk.checkin("T-E01-1", "E01", "100777", early, contests, clerk="E01-係1")
    ev = mk.checkin("T-C01-2", "C01", "100777", DEMO_DAY.replace(hour=13, minute=41), contests, clerk="C01-係2")
    mk.emit("T-C01-2", EventKind.PROVISIONAL, DEMO_DAY.replace(hour=13, minute=41, second=2), {"ref": ev.seq})
    # a double vote between two day stations, already looked into and resolved
    mk.checkin("T-D01-1", "D01", "100555", DEMO_DAY.replace(hour=9, minute=3), ["governor"], clerk="D01-係1")
    ev2 = mk.checkin("T-C01-1", "C01", "100555", DEMO_DAY.replace(hour=9, minute=40), ["governor"], clerk="C01-係1")
    mk.emit("T-C01-1", EventKind.PROVISIONAL, DEMO_DAY.replace(hour=9, minute=40, second=1), {"ref": ev2.seq})
    # a mistaken check-in, voided
    ev3 = mk.checkin("T-D01-1", "D01", "100999", DEMO_DAY.replace(hour=14, minute=5), contests, clerk="D01-係2")
    mk.emit("T-D01-1", EventKind.VOID, DEMO_DAY.replace(hour=14, minute=6), {"ref": ev3.seq, "reason": "人違い",
                                                                           "clerk": "D01-管理者"})
    # the supervisors enter 交付数 at the top of each hour: what was handed out, except that D01
    # reports one 知事 ballot more than meibo recorded from 11時 on (the 蒲郡 pattern)
    for hour in range(8, 16):
        for station, t in (("C01", "T-C01-1"), ("D01", "T-D01-1")):
            for c in contests:
                handed = sum(1 for rec in ledger.checkins.values()
                             if rec.ref.station == station and rec.state.get(c) is CState.BALLOT
                             and hlc_dt(rec.ref.hlc) < DEMO_DAY.replace(hour=hour))
                extra = 1 if station == "D01" and c == "governor" and hour >= 11 else 0
                mk.count(t, DEMO_DAY.replace(hour=hour, minute=2), c, hour, handed + extra)
    now_s = DEMO_NOW.timestamp()
    contacts = {"T-E01-1": (now_s - 3600 * 50, "10.20.1.11", None),
                "T-C01-1": (now_s - 4, "10.20.2.11", '{"dbm": -87, "carrier": "NTTドコモ"}'),
                "T-C01-2": (now_s - 95, "10.20.2.12", '{"dbm": -109, "carrier": "KDDI"}'),
                "T-D01-1": (now_s - 2, "10.20.3.11", '{"dbm": -71, "carrier": "NTTドコモ"}')}
    alerts: dict[str, int] = {a.voter: a.alert_id for a in ledger.alert_log}
    history: dict[int, list[dict[str, Any]]] = {}
    for aid in [alerts["100555"]]:
        history[aid] = [
            {"state": "investigating", "who": "選管 佐藤", "at": "2027-04-25T10:02:00+09:00",
             "note": "両投票所に電話で確認中"},
            {"state": "resolved", "who": "選管 佐藤", "at": "2027-04-25T10:31:00+09:00",
             "note": "C01 で本人確認の誤り。投票録に記載済み"}]
    gov = [a for a in ledger.alert_log if a.voter == "100777"]
    for a in gov[:1]:
        history[a.alert_id] = [{"state": "investigating", "who": "選管 田中", "at": "2027-04-25T13:50:00+09:00",
                                "note": "C01 はオフライン受付。E01 の宣誓書を確認する"}]
    facts = HqFacts(contacts=contacts, alert_history=history, online=frozenset({"T-C01-1", "T-D01-1"}),
                    unacked_flags={"T-C01-1": 0, "T-D01-1": 3})
    return ledger, facts
