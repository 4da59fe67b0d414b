"""The one display rule for registered names (ground/names.py, issue 19): 外字 shown as 〓 with the
kana beside it, IVS kept, the stored string never changed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ground.names import GAIJI_MARK, display_name, has_gaiji, has_ivs, is_private_use, is_variation_selector


def test_ivs_is_kept_as_registered() -> None:
    name = "葛\U000E0102城 太郎"
    assert display_name(name, "カツラギ タロウ") == name  # no 外字: no kana appended, nothing changed
    assert has_ivs(name) and not has_gaiji(name)


def test_private_use_becomes_geta_with_kana_beside_it() -> None:
    assert display_name("山\ue000 花子", "ヤマザキ ハナコ") == f"山{GAIJI_MARK} 花子（ヤマザキ ハナコ）"
    assert display_name("\U000F0001\U00100002", "アイ") == f"{GAIJI_MARK}{GAIJI_MARK}（アイ）"  # planes 15 and 16


def test_selector_after_gaiji_is_dropped_with_it() -> None:
    assert display_name("\ue000\U000E0100郎", "ロウ") == f"{GAIJI_MARK}郎（ロウ）"


def test_character_the_font_cannot_draw_is_a_geta_too() -> None:
    drawable = {ord(c) for c in "山田 "}.__contains__
    assert display_name("山田 𠮷", "ヤマダ ヨシ", drawable) == f"山田 {GAIJI_MARK}（ヤマダ ヨシ）"
    assert display_name("山田", "ヤマダ", drawable) == "山田"


def test_no_kana_no_brackets() -> None:
    assert display_name("\ue000", "") == GAIJI_MARK


def test_ranges() -> None:
    assert is_private_use(0xE000) and is_private_use(0xF8FF) and is_private_use(0xFFFFD) and is_private_use(0x10FFFD)
    assert not is_private_use(0xF900) and not is_private_use(0xDFFF)
    assert is_variation_selector(0xE0100) and is_variation_selector(0xE01EF) and is_variation_selector(0xFE0F)
    assert not is_variation_selector(0xE01F0)


@given(st.text(min_size=1, max_size=20))
def test_never_blank_and_argument_untouched(name: str) -> None:
    before = name.encode("utf-8")
    shown = display_name(name, "カナ")
    assert name.encode("utf-8") == before
    assert not any(is_private_use(ord(c)) for c in shown)
    if has_gaiji(name):
        assert GAIJI_MARK in shown and shown.endswith("（カナ）")
    else:
        assert shown == name
