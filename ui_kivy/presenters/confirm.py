"""本人確認 (confirm): the voter's details and, per contest, what this station may hand over.

年齢確認 (issue 19): when a 生年月日 不詳 leaves the 18-year rule open (eligibility code
``age_confirm_id``), those contests show 「！ 年齢確認が必要」 and ``age_check`` carries the
instruction; once the poll worker has chosen the ID they saw (``age_id``), they show as 交付可.
The check-in itself carries the confirmation (``age_confirmed`` mark); the terminal decides again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ground.names import display_name
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
    name: str  # as shown: ground.names.display_name (外字 as 〓 with the kana); card.name is as registered
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
    age_check: str = ""  # the 年齢確認 instruction when some contest waits for it, else ""
    age_id: str = ""  # the ID the poll worker confirmed the age with (its label), "" until then


AGE_CONFIRM_ID = "age_confirm_id"  # appliance.eligibility.Code.AGE_CONFIRM_ID


def confirm_state(card: VoterCard, lines: tuple[BallotLine, ...], via: str, age_id: str = "") -> ConfirmState:
    """``age_id``: the label of the ID the poll worker confirmed the age with, once chosen."""
    preview = []
    for b in lines:
        if b.code == AGE_CONFIRM_ID:
            preview.append(PreviewLine(b.name, bool(age_id), "✓ 交付可（年齢確認済み）" if age_id
                                       else "！ 年齢確認が必要"))  # the box below says how and with what
        elif b.outcome.hand:
            preview.append(PreviewLine(b.name, True, "✓ 交付可" + ("（証明の確認が必要）" if b.note else "")))
        elif b.where:
            preview.append(PreviewLine(b.name, False, f"× 投票済（{b.where} {mdhm(b.at)}）"))
        else:
            preview.append(PreviewLine(b.name, False, f"× {b.reason}"))
    age = next((b.reason for b in lines if b.code == AGE_CONFIRM_ID), "")
    can = any(b.outcome.hand for b in lines) or bool(age)  # a ballot can be handed (after 年齢確認)
    return ConfirmState(card, display_name(card.name, card.kana), card.kana, birth_text(card), card.address,
                        f"第{card.district}投票区", card.voter_id, card.status_ja, tuple(preview), can,
                        "受付（名簿対照）" if can else "結果を表示（交付なし）", via, age, age_id)
