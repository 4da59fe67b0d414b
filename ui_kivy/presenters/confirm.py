"""本人確認 (confirm): the voter's details and, per contest, what this station may hand over."""

from __future__ import annotations

from dataclasses import dataclass

from ui_kivy.presenters.format import birth_text, mdhm
from ui_kivy.service import BallotLine, VoterCard


@dataclass(frozen=True)
class PreviewLine:
    name: str
    ok: bool
    text: str  # "✓ 交付可" or "× 理由"


@dataclass(frozen=True)
class ConfirmState:
    card: VoterCard
    name: str
    kana: str
    birth: str
    address: str
    district: str
    voter_id: str
    status: str
    lines: tuple[PreviewLine, ...]
    can_hand: bool
    button_text: str
    via: str  # scan | search


def confirm_state(card: VoterCard, lines: tuple[BallotLine, ...], via: str) -> ConfirmState:
    preview = []
    for b in lines:
        if b.outcome.hand:
            preview.append(PreviewLine(b.name, True, "✓ 交付可" + ("（証明の確認が必要）" if b.note else "")))
        elif b.where:
            preview.append(PreviewLine(b.name, False, f"× 投票済（{b.where} {mdhm(b.at)}）"))
        else:
            preview.append(PreviewLine(b.name, False, f"× {b.reason}"))
    can = any(b.outcome.hand for b in lines)
    return ConfirmState(card, card.name, card.kana, birth_text(card), card.address, f"第{card.district}投票区",
                        card.voter_id, card.status_ja, tuple(preview), can,
                        "受付（名簿対照）" if can else "結果を表示（交付なし）", via)
