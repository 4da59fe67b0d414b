"""Japanese display strings shared by the presenters (pure)."""

from __future__ import annotations

from datetime import datetime

from ui_kivy.service import VoterCard


def hm(at: datetime | None) -> str:
    return f"{at:%H:%M}" if at is not None else "—"


def mdhm(at: datetime | None) -> str:
    return f"{at.month}月{at.day}日 {at:%H:%M}" if at is not None else "日時不明"


def birth_text(card: VoterCard) -> str:
    return f"{card.birth_wareki}（{card.age}歳）" if card.age is not None else f"{card.birth_wareki}（年齢不詳）"


def bars_text(bars: int) -> str:
    b = max(0, min(4, bars))
    return "■" * b + "□" * (4 - b)
