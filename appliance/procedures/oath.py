"""宣誓書事由 (公職選挙法 48条の2第1項各号; form: 施行令 49条の8): the statutory list as codes and
labels. At an early station every check-in carries one (``oath_reason`` mark, stored as the
English code); at other stations it is refused (no 宣誓書 there). Also the 代理/点字 marks."""

from __future__ import annotations

import unicodedata
from enum import Enum
from typing import Any

from appliance.eligibility import AGE_ID_KINDS
from appliance.procedures.common import OathReasonInvalid, OathReasonRequired
from ground.errors import UsageError
from ground.model import Station, StationKind


class OathReason(str, Enum):
    WORK = "work"  # 1号
    TRAVEL = "travel"  # 2号
    ILLNESS = "illness"  # 3号
    REMOTE_AREA = "remote_area"  # 4号
    LIVES_OUTSIDE = "lives_outside"  # 5号
    DISASTER = "disaster"  # 6号

    @property
    def ja(self) -> str:
        return OATH_LABELS[self][0]

    @property
    def article(self) -> str:
        return OATH_LABELS[self][1]


OATH_LABELS: dict[OathReason, tuple[str, str]] = {
    OathReason.WORK: ("仕事・用務に従事", "1号: 職務若しくは業務又は総務省令で定める用務に従事すること"),
    OathReason.TRAVEL: ("旅行・用務・事故で区域外に滞在",
                        "2号: 用務又は事故のため投票区の区域外に旅行又は滞在をすること"),
    OathReason.ILLNESS: ("疾病・負傷・妊娠・身体の障害等で歩行困難",
                         "3号: 疾病、負傷、妊娠、老衰、身体の障害、産褥のため歩行が困難であること又は刑事施設等に収容されていること"),
    OathReason.REMOTE_AREA: ("交通至難の島等に居住・滞在", "4号: 交通至難の島その他の地で総務省令で定める地域に居住又は滞在をすること"),
    OathReason.LIVES_OUTSIDE: ("市区町村外の住所に居住", "5号: その属する投票区のある市町村の区域外の住所に居住していること"),
    OathReason.DISASTER: ("天災・悪天候で投票所に行くのが困難", "6号: 天災又は悪天候により投票所に到達することが困難であること"),
}


def parse_oath_reason(text: str) -> OathReason:
    """A code (``work``), a 号 number (``1``, ``1号``) or the Japanese label → the reason."""
    t = unicodedata.normalize("NFKC", text).strip()
    for r in OathReason:
        if t in (r.value, r.ja, f"{list(OathReason).index(r) + 1}", f"{list(OathReason).index(r) + 1}号"):
            return r
    choices = "、".join(f"{i}号 {r.ja}（{r.value}）" for i, r in enumerate(OathReason, 1))
    raise OathReasonInvalid(f"宣誓書の事由が読めません: {text!r}。次のいずれかです: {choices}")


def checkin_marks(station: Station, *, oath_reason: str | None = None, proxy: bool = False,
                  braille: bool = False, require_oath: bool = True,
                  age_confirmed: str | None = None) -> dict[str, Any]:
    """The marks of one check-in, validated for this station: the dict to pass to
    ``Terminal.checkin(..., marks)``. Early stations require a 宣誓書事由 (the kiosk always;
    ``require_oath=False`` lets a rehearsal CLI omit it); others refuse one. ``age_confirmed``:
    the ID the poll worker checked for a 生年月日 不詳 voter (年齢確認), a key of
    ``eligibility.AGE_ID_KINDS``; the terminal records it only when the voter needed it."""
    marks: dict[str, Any] = {}
    if station.kind is StationKind.EARLY:
        if oath_reason:
            marks["oath_reason"] = parse_oath_reason(oath_reason).value
        elif require_oath:
            raise OathReasonRequired("期日前投票では宣誓書の事由を選んでください（宣誓書の用紙が正式の記録です）")
    elif oath_reason:
        raise OathReasonInvalid(f"{station.kind.ja}では宣誓書を使いません（期日前投票所だけです）")
    if proxy:
        marks["proxy"] = True  # 代理投票 (公職選挙法 48条)
    if braille:
        marks["braille"] = True  # 点字投票 (公職選挙法 47条)
    if age_confirmed:
        if age_confirmed not in AGE_ID_KINDS:
            raise UsageError(f"年齢確認に使った書類の種類が不正です: {age_confirmed!r}（{' / '.join(AGE_ID_KINDS)}）",
                             code="age_id_invalid")
        marks["age_confirmed"] = age_confirmed  # 年齢確認 (生年月日 不詳)
    return marks
