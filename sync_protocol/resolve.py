"""What the poll worker is told for each handed contest of one check-in, once HQ has answered
(or not): the terminal asks HQ to resolve a check-in recorded locally (``meibo terminal checkin``).

Through the terminal's running sync agent when there is one, else over a link opened for this
check-in (client.py ``resolve``). The outcome is in the journal before anyone is told: contests HQ
says were already voted are ``withheld`` (not handed); when any verdict is missing within the
budget the check-in is ``provisional`` and its ballots are ``offline_provisional``.

Never imports HQ, the screens or the CLI (lint-imports checks it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from appliance.eligibility import ContestDecision
from appliance.terminal import LocalCheckin, Terminal, hlc_to_jst
from sync_protocol.client import resolve


@dataclass(frozen=True)
class ContestOutcome:
    """What the poll worker is told for one contest after HQ's verdict (or its absence)."""

    decision: ContestDecision
    status: str  # ok | offline_provisional | already_voted (HQ) | a refusal code
    reason: str = ""

    @property
    def hand(self) -> bool:
        return self.status in ("ok", "offline_provisional")


def resolve_with_hq(term: Terminal, local: LocalCheckin) -> list[ContestOutcome]:
    """Ask HQ for its verdict on the handed contests of ``local`` and record the answer in the
    journal (see the module's docstring); one ``ContestOutcome`` per handed contest."""
    assert local.seq is not None
    res = asyncio.run(resolve(term.tdir, term, local.seq, [d.contest for d in local.handed]))
    by_contest = {v.contest: v for v in res.verdicts}
    out: list[ContestOutcome] = []
    for d in local.handed:
        v = by_contest.get(d.contest)
        if d.contest in res.withheld and v is not None:
            at = hlc_to_jst(v.hlc).strftime("%m月%d日 %H:%M")
            where = station_name(term, v.station)
            out.append(ContestOutcome(d, "already_voted",
                                      f"投票済: {where}（端末 {v.terminal}、{at}）で交付済み。交付しないでください"))
        elif v is not None and v.accepted:
            out.append(ContestOutcome(d, "ok"))
        else:
            out.append(ContestOutcome(d, "offline_provisional",
                                      "オフライン受付（本部の確認は接続後に行われます。オフライン時の手順に従ってください）"))
    return out


def station_name(term: Terminal, station_id: str) -> str:
    """The station's name for the poll worker; HQ's own ballots are 不在者投票 at the commission."""
    if station_id == "HQ":
        return "選挙管理委員会（不在者投票）"
    try:
        return term.config.station(station_id).name
    except KeyError:
        return station_id
