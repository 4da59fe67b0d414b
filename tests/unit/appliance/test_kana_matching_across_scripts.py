"""Kana search keys: hiragana, katakana, half-width (with separate dakuten) and spaces all match."""

import pytest

from appliance.kana import is_valid_kana, kana_key, normalize_kana, prefix_upper_bound


@pytest.mark.parametrize("text", ["サトウ タロウ", "さとう たろう", "ｻﾄｳ ﾀﾛｳ", "サトウ　タロウ", "サトウタロウ",
                                  " さとう\u3000\u3000タロウ "])
def test_same_key_for_every_script_and_spacing(text: str) -> None:
    assert kana_key(text) == "サトウタロウ"


@pytest.mark.parametrize("text", ["ｶﾞｯｺｳ", "がっこう", "カ゛ッコウ", "か\u3099っこう", "ガッコウ"])
def test_voiced_marks_combine(text: str) -> None:
    assert kana_key(text) == "ガッコウ"


def test_handakuten_and_small_kana_kept() -> None:
    assert kana_key("ﾊﾟﾝ") == "パン"
    assert kana_key("きょう") == "キョウ"
    assert kana_key("キヨウ") != kana_key("キョウ")  # small ョ is a different reading


def test_display_form_has_one_ascii_space() -> None:
    assert normalize_kana("ﾔﾏｻﾞｷ　　ｲﾁﾛｳ") == "ヤマザキ イチロウ"
    assert is_valid_kana("ヤマザキ イチロウ")


@pytest.mark.parametrize("bad", ["山田", "ヤマダ  タロウ", " ヤマダ", "ヤマダ\tタロウ", ""])
def test_invalid_display_forms(bad: str) -> None:
    assert not is_valid_kana(bad)


def test_full_width_digits_fold() -> None:
    assert kana_key("ジョン３世") != kana_key("ジョン3")  # kanji stays; only digits fold
    assert kana_key("ジョン３") == "ジョン3"


def test_prefix_upper_bound_is_exclusive_bound() -> None:
    hi = prefix_upper_bound("サト")
    assert hi == "サド"
    assert all("サト" <= k < hi for k in ("サト", "サトウ", "サトー", "サト\uffff"))
    assert not ("サト" <= "サド" < hi) and not ("サト" <= "サズ" < hi)
