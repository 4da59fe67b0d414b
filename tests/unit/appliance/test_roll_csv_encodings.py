"""Roll CSV encodings: UTF-8 with and without BOM, CP932 (Shift_JIS), and neither."""

import pytest

from ground.errors import RollInvalid
from appliance.rollcsv import parse_roll
from tests.builders_roll import BASE_ROWS, csv_text


@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-8"),
    lambda t: t.encode("utf-8-sig"),
    lambda t: t.encode("cp932"),
    lambda t: t.replace("\n", "\r\n").encode("cp932"),
], ids=["utf8", "utf8-bom", "cp932", "cp932-crlf"])
def test_detected(encode) -> None:  # type: ignore[no-untyped-def]
    voters = parse_roll(encode(csv_text(BASE_ROWS)))
    assert [v.name for v in voters][:3] == ["佐藤 太郎", "髙橋 花子", "山﨑 一郎"]
    assert voters[2].name_kana == "ヤマザキ イチロウ"


def test_neither_encoding_names_the_line() -> None:
    data = csv_text(BASE_ROWS).encode("utf-8") + b"0000000009,1,\x81\xff,x,1985-04-01,M,y\n"
    with pytest.raises(RollInvalid) as e:
        parse_roll(data)
    assert e.value.code == "roll_encoding"
    assert e.value.problems[0].row == 7
