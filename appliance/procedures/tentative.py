"""仮投票 (公職選挙法 50条): a ``tentative`` journal entry naming the voter as identified (a voter id
on the roll) or as declared (name and birth date, no roll row), the reason, who decided, the clerk
and the contests. It never touches the ``voted`` table and is never a ``checkin``: HQ keeps it in
``other_events`` and counts it apart, never as a ballot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from appliance.procedures.common import DECLARED_VOTER, TentativeInvalid, append, short
from appliance.procedures.station_day import ensure_accepting
from appliance.procedures.zaigai import zaigai_row
from appliance.terminal import Terminal, hlc_to_jst
from appliance.zaigaipkg import ZAIGAI_PREFIX
from ground.events import MAX_STR, EventKind
from ground.model import ElectionConfig


class TentativeReason(str, Enum):
    SUPERVISOR_REFUSAL = "supervisor_refusal"  # 投票管理者が本人と認められないとして拒否 (50条2項)
    WITNESS_OBJECTION = "witness_objection"  # 投票立会人の異議 (50条2項)
    CLAIMS_NOT_VOTED = "claims_not_voted"  # 投票済とされた選挙人の申立て (50条3項・4項)

    @property
    def ja(self) -> str:
        return {"supervisor_refusal": "管理者拒否", "witness_objection": "立会人異議",
                "claims_not_voted": "投票済の申立て"}[self.value]


def parse_tentative_reason(text: str) -> TentativeReason:
    t = text.strip()
    for r in TentativeReason:
        if t in (r.value, r.ja):
            return r
    raise TentativeInvalid(f"仮投票の理由が読めません: {text!r}（"
                           + "、".join(f"{r.ja}={r.value}" for r in TentativeReason) + "）")


@dataclass(frozen=True)
class Declared:
    """A voter as they declare themselves when not identified on the roll."""

    name: str
    birth_date: date | None = None
    address: str = ""


@dataclass(frozen=True)
class TentativeRecord:
    seq: int
    at: datetime
    voter: str  # voter id, or "?" when declared only
    declared: Declared | None
    contests: tuple[str, ...]
    reason: TentativeReason
    decided_by: str

    def text(self, config: ElectionConfig) -> str:
        names = "、".join(config.contest(c).name for c in self.contests)
        who = (f"選挙人番号 {self.voter}" if self.declared is None
               else f"申立てによる選挙人 {self.declared.name}"
                    + (f"（{self.declared.birth_date:%Y年%m月%d日}生）" if self.declared.birth_date else ""))
        return (f"仮投票を記録しました（記録番号 {self.seq}、{self.at:%m月%d日 %H:%M}）\n"
                f"  {who}\n  理由: {self.reason.ja}  決定: {self.decided_by}\n  選挙: {names}\n"
                "  投票用紙は封筒に入れ封をし、表に氏名を記載させてください。"
                "受理・不受理は開票管理者が決定します。通常の受付ではありません。")


def record_tentative(term: Terminal, *, contests: Sequence[str], reason: str, decided_by: str, clerk: str,
                     voter_id: str | None = None, declared: Declared | None = None, note: str = "") -> TentativeRecord:
    """Record one 仮投票. Exactly one of ``voter_id`` (on the roll) or ``declared`` is given.
    Never a check-in: the ``voted`` table is not touched and HQ does not count it as a ballot."""
    r = parse_tentative_reason(reason)
    if (voter_id is None) == (declared is None):
        raise TentativeInvalid("選挙人は名簿の番号か、申立ての氏名のどちらか一方で指定してください")
    cs = list(dict.fromkeys(c.strip() for c in contests if c.strip()))
    if not cs:
        raise TentativeInvalid("仮投票の対象の選挙を一つ以上選んでください")
    unknown = [c for c in cs if c not in term.config.contest_ids]
    if unknown:
        raise TentativeInvalid(f"選挙 {', '.join(unknown)} はこの選挙にありません")
    data: dict[str, Any] = {"station": term.station.station_id, "contests": cs, "reason": r.value,
                            "decided_by": short(decided_by, "決定者"), "clerk": short(clerk, "担当者ID")}
    if voter_id is not None:
        vid = voter_id.strip()
        if vid.startswith(ZAIGAI_PREFIX):
            zaigai_row(term.store, vid[len(ZAIGAI_PREFIX):])
        else:
            term.voter(vid)  # NotFound: declare the voter instead
        data["voter"] = vid
    else:
        assert declared is not None
        data["voter"] = DECLARED_VOTER
        data["declared_name"] = short(declared.name, "申立ての氏名")
        if declared.birth_date is not None:
            data["declared_birth"] = declared.birth_date.isoformat()
        if declared.address.strip():
            data["declared_address"] = declared.address.strip()[:MAX_STR]
    if note.strip():
        data["note"] = note.strip()[:MAX_STR]
    ensure_accepting(term.store)
    ev = append(term, EventKind.TENTATIVE, data)
    return TentativeRecord(ev.seq, hlc_to_jst(ev.hlc), str(data["voter"]), declared, tuple(cs), r,
                           str(data["decided_by"]))
