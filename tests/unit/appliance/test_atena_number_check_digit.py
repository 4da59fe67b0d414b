"""宛名番号 (issue 19): modulus 11, weights 2–7 from the rightmost digit before the check digit;
remainder ≤ 1 gives 0, else 11 − remainder.

The rule is 総務省令第85号 第5条's 算式 (Qn = n+1 for 1 ≤ n ≤ 6, n−5 for 7 ≤ n ≤ 11; remainder ≤ 1 → 0),
as quoted e.g. at qiita.com/ekzemplaro/items/6e4e782c00d29fda15a9 with the vector 983205673214
valid and 983205673210 not, and stabucky.com's "モジュラス11（ウェイト2,3,4,5,6,7）".
"""

import pytest

from appliance.atena import check_digit, normalize, problem


def test_published_vector_is_valid_and_its_altered_copy_is_not() -> None:
    assert problem("983205673214") is None
    assert problem("983205673210") is not None and "検査数字" in (problem("983205673210") or "")


def test_remainder_zero_or_one_gives_check_digit_zero() -> None:
    assert check_digit("0") == 0  # remainder 0
    assert check_digit("6") == 0  # 6 × 2 = 12, remainder 1
    assert check_digit("5") == 1  # 5 × 2 = 10, remainder 10 → 11 − 10
    body = "0000050"  # 5 × 3 = 15, 15 % 11 = 4 → 7
    assert check_digit(body) == 7


@pytest.mark.parametrize("bad", ["", "1", "12345678901a", "１２３"])
def test_not_digits_refused(bad: str) -> None:
    assert problem(bad) is not None


def test_full_width_digits_normalised_before_the_check() -> None:
    assert problem(normalize(" ９８３２０５６７３２１４ ")) is None


def test_every_single_digit_error_is_caught() -> None:
    good = "983205673214"
    for i in range(len(good)):
        for d in "0123456789":
            if d != good[i]:
                assert problem(good[:i] + d + good[i + 1:]) is not None, (i, d)
