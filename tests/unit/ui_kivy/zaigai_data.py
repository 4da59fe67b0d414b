"""A small 在外選挙人名簿 for the kiosk tests, loaded the same way into the fake and a real store
(there, as HQ's signed package: the only way a terminal takes one)."""

from __future__ import annotations

from appliance import procedures as P
from appliance.store import Store
from tests.builders_zaigai import install_signed

ZAIGAI_CSV = ("在外選挙人番号,在外選挙人証番号,氏名,氏名カナ,生年月日,性別,最終住所,居住国,状態\n"
              "900001,12345678,鈴木 一郎,スズキ イチロウ,1975-05-05,男,横浜市中区本町1-1,アメリカ合衆国,登録\n"
              "900002,87654321,伊藤 花子,イトウ ハナコ,1990-01-01,女,横浜市中区山下町2,フランス,抹消\n")


def zaigai_voters() -> list[P.ZaigaiVoter]:
    return P.parse_zaigai_csv(ZAIGAI_CSV.encode("utf-8"))


def install_zaigai(store: Store, designated: tuple[str, ...] = ()) -> None:
    install_signed(store, ZAIGAI_CSV, designated)
