"""A simulated election with known numbers, for the report tests (issue 10).

40 voters on the roll: 投票区 1 = voters 1..20, 投票区 2 = 21..40; odd ids 男, even 女; voter i is
18 + 10·((i−1) mod 8) years old on election day (so each 年代 holds five voters); voter 20 抹消.
Early: E01 04-20 voters 1 (9:10, 仕事), 2 (9:40, 代理), 21 (13:05); E02 04-21 voter 3 (10:30).
不在者: voter 22 (shu, governor). Election day: D01 voters 4..11 (7:30 … 19:00; 7 代理, 10 点字),
voter 13 checked in and voided; D02 voters 23 (8:00), 24 (11:30); C01 voters 12 (10:15),
25 (14:00), and voter 1 again (12:30: HQ said already voted, withheld). 仮投票 at D01 for voter
14 (shu). D01 交付数 for shu: 3 at 10時 (one more than recorded), and at closing 受領 100,
交付 8, 残 91 (one ballot missing from the stock).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ground.clock import JST
from ground.events import Event, EventKind
from ground.model import ElectionConfig
from hq.procedures import RollFact
from hq.records import RecordsLedger
from tests.builders import election_config
from ui_kivy.console.demo import EventMaker

C = ["shu", "governor"]


def at(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2027, mo, d, h, mi, tzinfo=JST)


def roll() -> dict[str, RollFact]:
    out = {}
    for i in range(1, 41):
        age = 18 + 10 * ((i - 1) % 8)
        out[str(i)] = RollFact(1 if i <= 20 else 2, "M" if i % 2 else "F", date(2027 - age, 1, 1),
                               "deleted" if i == 20 else "registered")
    return out


class Day:
    def __init__(self) -> None:
        self.config: ElectionConfig = election_config()
        self.ledger = RecordsLedger(self.config.election_id)
        self.mk = EventMaker(self.ledger)
        self.events: list[Event] = []
        for t, s in (("TE1", "E01"), ("TE2", "E02"), ("TD1", "D01"), ("TD2", "D02"), ("TC1", "C01"), ("HQ", "HQ")):
            self.mk.terminal(t, s)

    def emit(self, t: str, kind: EventKind, when: datetime, data: dict[str, Any]) -> Event:
        ev = self.mk.emit(t, kind, when, data)
        self.events.append(ev)
        return ev

    def checkin(self, t: str, station: str, voter: int, when: datetime, **marks: Any) -> Event:
        return self.emit(t, EventKind.CHECKIN, when, {"station": station, "clerk": "c", "voter": str(voter),
                                                      "contests": C, **marks})


def build() -> Day:
    d = Day()
    d.checkin("TE1", "E01", 1, at(4, 20, 9, 10), oath_reason="work")
    d.checkin("TE1", "E01", 2, at(4, 20, 9, 40), oath_reason="travel", proxy=True)
    d.checkin("TE1", "E01", 21, at(4, 20, 13, 5), oath_reason="work")
    d.checkin("TE2", "E02", 3, at(4, 21, 10, 30), oath_reason="illness")
    d.emit("HQ", EventKind.ABSENTEE, at(4, 22, 11), {"voter": "22", "contests": C, "station": "HQ"})
    d.emit("TD1", EventKind.STATION, at(4, 25, 6, 55), {"action": "open", "clerk": "m"})
    times = {4: (7, 30), 5: (9, 59), 6: (10, 0), 7: (10, 30), 8: (13, 0), 9: (15, 59), 10: (17, 0), 11: (19, 0)}
    for v, (h, m) in times.items():
        if v == 6:
            d.emit("TD1", EventKind.COUNT, at(4, 25, 10, 0), {"contest": "shu", "hour": 10, "issued": 3})
        marks = {"proxy": True} if v == 7 else {"braille": True} if v == 10 else {}
        d.checkin("TD1", "D01", v, at(4, 25, h, m), **marks)
    void = d.checkin("TD1", "D01", 13, at(4, 25, 12, 0))
    d.emit("TD1", EventKind.VOID, at(4, 25, 12, 1), {"ref": void.seq, "reason": "人違い", "clerk": "c"})
    d.emit("TD1", EventKind.TENTATIVE, at(4, 25, 12, 10), {"station": "D01", "voter": "14", "contests": ["shu"],
                                                          "reason": "claims_not_voted", "decided_by": "管理者"})
    d.checkin("TD2", "D02", 23, at(4, 25, 8, 0))
    d.checkin("TD2", "D02", 24, at(4, 25, 11, 30))
    d.checkin("TC1", "C01", 12, at(4, 25, 10, 15))
    d.checkin("TC1", "C01", 25, at(4, 25, 14, 0))
    again = d.checkin("TC1", "C01", 1, at(4, 25, 12, 30))
    d.emit("TC1", EventKind.WITHHELD, at(4, 25, 12, 30), {"ref": again.seq, "contests": C})
    d.emit("TD1", EventKind.COUNT, at(4, 25, 20, 5), {"contest": "shu", "hour": 20, "issued": 8, "received": 100,
                                                     "left": 91, "final": True})
    d.emit("TD1", EventKind.STATION, at(4, 25, 20, 6), {"action": "close", "clerk": "m"})
    return d
