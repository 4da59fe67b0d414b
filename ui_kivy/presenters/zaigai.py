"""在外選挙人 check-in at the kiosk (early stations and designated ones). Pure, no kivy import.

Two steps on digit pads (no keyboard at a station): the 在外選挙人番号 (looked up in the
在外選挙人名簿), then, on the confirm screen showing 氏名, カナ, 生年月日 (和暦) and 居住国, the
在外選挙人証番号 read from the card the voter shows (digits, and A–Z on the 英字 keys: the number is
alphanumeric on some cards). 受付 sends both; the service checks the card
number and records the check-in before HQ's verdict, as for any voter. The result screens are the
main flow's. A refusal (not found, card mismatch, 抹消, not designated) is a Japanese message and
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ground.names import display_name
from ui_kivy.service import ZaigaiCard

MAX_ID = 16
MAX_CARD = 20


@dataclass(frozen=True)
class ZaigaiState:
    zaigai_id: str = ""  # digits typed (step 1)
    card: ZaigaiCard | None = None  # found (step 2)
    card_no: str = ""  # 在外選挙人証番号 typed (step 2): digits, and capital letters on the 英字 keys
    message: str = ""
    letters: bool = False  # the card number pad shows A–Z (the number is alphanumeric on some cards)

    @property
    def id_text(self) -> str:
        return f"在外選挙人番号: {self.zaigai_id or '＿'}"

    @property
    def card_text(self) -> str:
        return f"在外選挙人証番号: {self.card_no or '＿'}"

    @property
    def can_lookup(self) -> bool:
        return bool(self.zaigai_id)

    @property
    def can_checkin(self) -> bool:
        return self.card is not None and len(self.card_no) >= 4

    def details(self) -> tuple[tuple[str, str], ...]:
        c = self.card
        if c is None:
            return ()
        return (("氏名", display_name(c.name, c.kana)), ("カナ", c.kana), ("生年月日", f"{c.birth_wareki}（{c.age}歳）"),
                ("居住国", c.country), ("在外選挙人番号", c.zaigai_id))


def type_digit(value: str, d: str, limit: int) -> str:
    if len(d) == 1 and d.isdigit() and len(value) < limit:
        return value + d
    return value


def id_digit(s: ZaigaiState, d: str) -> ZaigaiState:
    return replace(s, zaigai_id=type_digit(s.zaigai_id, d, MAX_ID), message="")


def id_backspace(s: ZaigaiState) -> ZaigaiState:
    return replace(s, zaigai_id=s.zaigai_id[:-1], message="")


LETTERS: tuple[tuple[str, ...], ...] = (tuple("ABCDEFGHIJ"), tuple("KLMNOPQRST"), tuple("UVWXYZ"))


def card_digit(s: ZaigaiState, d: str) -> ZaigaiState:
    """A digit, or a capital letter A–Z (the 英字 keys), of the 在外選挙人証番号."""
    if len(d) == 1 and "A" <= d <= "Z" and len(s.card_no) < MAX_CARD:
        return replace(s, card_no=s.card_no + d, message="")
    return replace(s, card_no=type_digit(s.card_no, d, MAX_CARD), message="")


def toggle_letters(s: ZaigaiState) -> ZaigaiState:
    return replace(s, letters=not s.letters)


def card_backspace(s: ZaigaiState) -> ZaigaiState:
    return replace(s, card_no=s.card_no[:-1], message="")


__all__ = ["ZaigaiState", "id_digit", "id_backspace", "card_digit", "card_backspace", "toggle_letters", "LETTERS"]
