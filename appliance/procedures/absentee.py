"""不在者投票 status notices from HQ (``absentee_notices``, state per voter and contest): a voter
holding papers is warned at check-in, never blocked, with the procedure to follow."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from appliance.procedures.common import contest_name
from appliance.store import Store
from ground.errors import UsageError
from ground.model import ElectionConfig


ABSENTEE_STATES = ("requested", "issued", "received", "accepted", "rejected", "returned")
ABSENTEE_STATE_JA = {"requested": "請求済", "issued": "用紙交付済", "received": "選管受領済",
                     "accepted": "受理", "rejected": "不受理", "returned": "用紙返還済"}


@dataclass(frozen=True)
class AbsenteeWarning:
    """Warn, never block: the voter holds 不在者投票 papers for these contests."""

    voter: str
    contests: tuple[tuple[str, str], ...]  # (contest, state)
    text: str


def apply_absentee_notice(store: Store, voter: str, contest: str, state: str, hlc: int,
                          conn: sqlite3.Connection | None = None) -> None:
    """Record HQ's latest 不在者投票 state for (voter, contest) (idempotent; later hlc wins)."""
    if state not in ABSENTEE_STATES:
        raise UsageError(f"不在者投票の状態が不正です: {state}", code="absentee_state_invalid")
    sql = ("INSERT INTO absentee_notices(voter_id, contest, state, hlc) VALUES(?,?,?,?) "
           "ON CONFLICT(voter_id, contest) DO UPDATE SET state=excluded.state, hlc=excluded.hlc "
           "WHERE excluded.hlc >= absentee_notices.hlc")
    if conn is not None:
        conn.execute(sql, (voter, contest, state, hlc))
        return
    with store.atomic() as c:
        c.execute(sql, (voter, contest, state, hlc))


def absentee_warning(store: Store, config: ElectionConfig, voter_id: str) -> AbsenteeWarning | None:
    """The warning for a voter who holds 不在者投票 papers (issued, or mailed but not yet received)."""
    rows = store.conn.execute("SELECT contest, state FROM absentee_notices WHERE voter_id=? ORDER BY contest",
                              (voter_id,)).fetchall()
    held = [(str(c), str(s)) for c, s in rows if s in ("issued", "requested")]
    if not held:
        return None
    order: dict[str, int] = {c: i for i, c in enumerate(config.contest_ids)}
    held.sort(key=lambda x: order.get(x[0], 99))
    names = "、".join(f"{contest_name(config, c)}（{ABSENTEE_STATE_JA[s]}）" for c, s in held)
    text = (f"！ 不在者投票の用紙を請求・交付済みの方です: {names}\n"
            "  この投票所で投票するときは、未使用の不在者投票用紙・封筒を返還してもらってください。\n"
            "  すでに郵送して選挙管理委員会に届いていない不在者投票は、この投票により不受理となります。\n"
            "  受付はできます（止める必要はありません）。返還を受けたら管理者に伝えてください。")
    return AbsenteeWarning(voter_id, tuple(held), text)
