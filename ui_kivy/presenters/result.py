"""Result screens: green 受付完了, red 投票済, amber オフライン受付, red 対象外, and mixed.

Each kind has a colour AND an icon word, so colour is never the only signal. The ballots to hand
over are numbered in hand-out order (the config's contest order); the ones NOT to hand over are
listed apart with their reason and, for 投票済, where and when the ballot was handed.

A 在外選挙人's local contests (国政選挙だけ) are listed under × 交付しない with the reason but do not
make the answer amber: for that voter they were never ballots to hand.

The hard stop: a result with any 投票済 ballot offers no action that hands a ballot. Its action
list is ``NEXT`` plus whatever ``hard_stop_actions`` the flow was given, which is where the
仮投票 (公職選挙法 50条) button of issue 10 plugs in: it records a ``tentative`` entry, never a
check-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ground.names import display_name
from ui_kivy.presenters.format import mdhm
from ui_kivy.service import ZAIGAI_NATIONAL_ONLY, CheckinAnswer, Outcome


class ResultKind(str, Enum):
    OK = "ok"
    OFFLINE = "offline"
    ALREADY_VOTED = "already_voted"
    INELIGIBLE = "ineligible"
    MIXED = "mixed"


COLOURS = {ResultKind.OK: "green", ResultKind.OFFLINE: "amber", ResultKind.ALREADY_VOTED: "red",
           ResultKind.INELIGIBLE: "red", ResultKind.MIXED: "amber"}
TITLES = {ResultKind.OK: "✓ 受付完了", ResultKind.OFFLINE: "！ オフライン受付",
          ResultKind.ALREADY_VOTED: "× 投票済 — 交付しない", ResultKind.INELIGIBLE: "× 対象外 — 交付しない",
          ResultKind.MIXED: "！ 一部のみ交付 — 一覧を確認"}


@dataclass(frozen=True)
class Action:
    id: str
    label: str


NEXT = Action("next", "次の方へ")


@dataclass(frozen=True)
class HandLine:
    order: int
    name: str
    text: str  # "1. 衆議院小選挙区選出議員選挙"
    note: str = ""


@dataclass(frozen=True)
class WithholdLine:
    name: str
    text: str  # "× 神奈川県知事選挙"
    reason: str  # why, with where and when for 投票済
    already_voted: bool
    expected: bool = False  # not this voter's ballot at all (a local contest for a 在外選挙人)


@dataclass(frozen=True)
class ResultState:
    kind: ResultKind
    colour: str  # green | amber | red
    title: str
    subtitle: str
    voter_name: str  # as shown (ground.names.display_name)
    seq: int | None
    hand: tuple[HandLine, ...]
    withhold: tuple[WithholdLine, ...]
    actions: tuple[Action, ...]

    @property
    def hard_stop(self) -> bool:
        return any(w.already_voted for w in self.withhold)


def result_state(answer: CheckinAnswer, hard_stop_actions: tuple[Action, ...] = ()) -> ResultState:
    hand: list[HandLine] = []
    withhold: list[WithholdLine] = []
    for b in answer.lines:
        if b.outcome.hand:
            n = len(hand) + 1
            hand.append(HandLine(n, b.name, f"{n}. {b.name}", b.note))
        elif b.outcome is Outcome.ALREADY_VOTED:
            withhold.append(WithholdLine(b.name, f"× {b.name}",
                                         f"投票済: {b.where or '他の投票所'} {mdhm(b.at)} に交付済み。交付しないでください",
                                         True))
        else:
            withhold.append(WithholdLine(b.name, f"× {b.name}", b.reason, False, b.code == ZAIGAI_NATIONAL_ONLY))
    surprising = [w for w in withhold if not w.expected]
    if hand and surprising:
        kind = ResultKind.MIXED
    elif hand:
        kind = ResultKind.OFFLINE if answer.provisional else ResultKind.OK
    elif any(w.already_voted for w in withhold):
        kind = ResultKind.ALREADY_VOTED
    else:
        kind = ResultKind.INELIGIBLE
    n = len(hand)
    sub = {
        ResultKind.OK: f"次の {n} 枚をこの順に手渡してください",
        ResultKind.OFFLINE: f"記録済み・本部と未接続です。次の {n} 枚を手渡し、オフライン時の手順に従ってください",
        ResultKind.ALREADY_VOTED: "この方には投票用紙を交付しないでください。申し出があれば管理者を呼んでください",
        ResultKind.INELIGIBLE: "この投票所では投票用紙を交付できません",
        ResultKind.MIXED: f"○ 交付する {n} 枚と × 交付しない {len(surprising)} 枚があります",
    }[kind]
    if kind is ResultKind.MIXED and answer.provisional:
        sub += "（オフライン受付）"
    actions = (NEXT,) + (hard_stop_actions if any(w.already_voted for w in withhold) else ())
    return ResultState(kind, COLOURS[kind], TITLES[kind], sub, display_name(answer.voter.name, answer.voter.kana), answer.seq, tuple(hand),
                       tuple(withhold), actions)
