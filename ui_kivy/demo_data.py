"""A small, fixed 同日選挙 with five contests and a few voters: for screenshots and the rehearsal
of the kiosk without a terminal directory. Pure data built with the real config parser."""

from __future__ import annotations

from datetime import date

from ground.birthdate import BirthDate
from ground.config import parse_config
from appliance.zaigaipkg import ZaigaiVoter, parse_zaigai_csv
from ground.model import DisplayReason, ElectionConfig, Sex, Status, Voter, VoterId

DEMO_TOML = """
[election]
id = "yokohama-2027"
name = "同日選挙（見本）"
election_day = "2027-04-25"
early_voting_start = "2027-04-12"
early_voting_end = "2027-04-24"

[hq]
address = "10.20.0.1:8443"

[[contest]]
id = "shu"
name = "衆議院小選挙区選出議員選挙"
level = "national"

[[contest]]
id = "hirei"
name = "衆議院比例代表選出議員選挙"
level = "national"

[[contest]]
id = "shinsa"
name = "最高裁判所裁判官国民審査"
level = "national"
early_voting_start = "2027-04-18"

[[contest]]
id = "governor"
name = "神奈川県知事選挙"
level = "prefectural"

[[contest]]
id = "mayor"
name = "横浜市長選挙"
level = "municipal"

[[station]]
id = "E01"
name = "中区役所 期日前投票所"
kind = "early"
[[station.open]]
from = "2027-04-12"
to = "2027-04-24"
hours = "08:30-20:00"

[[station]]
id = "E02"
name = "関内駅前 期日前投票所"
kind = "early"
[[station.open]]
from = "2027-04-20"
to = "2027-04-24"
hours = "10:00-19:00"
"""


def demo_config() -> ElectionConfig:
    return parse_config(DEMO_TOML.encode("utf-8"))


def _v(vid: str, name: str, kana: str, birth: date | BirthDate, sex: Sex = Sex.MALE, address: str = "横浜市中区本町1-1",
       **kw: object) -> Voter:
    return Voter(VoterId(vid), 1, name, kana, birth, sex, address, **kw)  # type: ignore[arg-type]


DEMO_VOTERS: tuple[Voter, ...] = (
    _v("100001", "山田 太郎", "ヤマダ タロウ", date(1985, 4, 1)),
    _v("100002", "山田 花子", "ヤマダ ハナコ", date(1990, 7, 7), Sex.FEMALE, "横浜市中区山下町2-3"),
    _v("100003", "山田 次郎", "ヤマダ ジロウ", date(1985, 12, 1), address="横浜市中区元町4-5-6"),
    _v("100004", "山田 美咲", "ヤマダ ミサキ", date(2001, 2, 14), Sex.FEMALE, "横浜市中区日本大通7"),
    _v("100005", "佐藤 一郎", "サトウ イチロウ", date(1958, 11, 3)),
    _v("100006", "鈴木 和子", "スズキ カズコ", date(1949, 5, 20), Sex.FEMALE, "横浜市中区弁天通8",
       status=Status.DELETED),
    _v("100007", "高橋 健", "タカハシ ケン", date(1979, 9, 9), address="東京都千代田区1-1",
       status=Status.DISPLAYED, display_reason=DisplayReason.MOVED, moved_on=date(2027, 1, 10),
       moved_within_prefecture=False),
    # names as registered (issue 19): an IVS (葛 + U+E0102, IPAmj明朝's variant) whose 生年月日 is 不詳
    # (平成21年: the year alone cannot prove 18 by election day → 年齢確認), and a 外字 (private use)
    _v("100008", "葛\U000E0102城 一郎", "カツラギ イチロウ", BirthDate(2009), address="横浜市中区山手町9"),  # type: ignore[arg-type]
    _v("100009", "\ue000城 花子", "カツラギ ハナコ", date(1972, 8, 30), Sex.FEMALE, "横浜市中区山手町9"),
)


DEMO_ZAIGAI_CSV = ("在外選挙人番号,在外選挙人証番号,氏名,氏名カナ,生年月日,性別,最終住所,居住国,状態\n"
                   "900017,A2027001,中村 恵美,ナカムラ エミ,1983-10-02,女,横浜市中区相生町3-1,ドイツ連邦共和国,登録\n")


def demo_zaigai() -> list[ZaigaiVoter]:
    """The 在外選挙人名簿 of the demo (one voter living in Germany)."""
    return parse_zaigai_csv(DEMO_ZAIGAI_CSV.encode("utf-8"))
