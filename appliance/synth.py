"""Synthetic voter rolls (合成名簿) for demos, tests and benchmarks: deterministic per seed.

Takes its randomness from a ``random.Random`` seeded by the caller (STYLE rule 6) and its
"today" from ``election_day``; writes the municipality CSV format that rollcsv reads. Imports
nothing from the store, the network or the CLI.

What a roll looks like: common family and given names with their correct kana (including 髙/﨑
variants that read the same), addresses in the wards of one city, districts tied to the town,
ages 18–100 (fewer of the very old), some voters turning 18 during the early-voting period,
a few 抹消 and every kind of 表示 (転出 県内 recent, 転出 県外, 失権). Voter ids are 10-digit
zero-padded strings in roll order.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

from appliance.csvsafe import SafeWriter

HEADER = ["選挙人番号", "投票区", "氏名", "氏名カナ", "生年月日", "性別", "住所", "状態", "表示事由", "転出日", "転出先"]

FAMILY: tuple[tuple[str, str], ...] = (
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
    ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"),
    ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"),
    ("前田", "マエダ"), ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"), ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"), ("藤井", "フジイ"),
    ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"), ("中野", "ナカノ"), ("三浦", "ミウラ"),
    ("原田", "ハラダ"), ("中川", "ナカガワ"), ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"),
    ("田村", "タムラ"), ("中山", "ナカヤマ"), ("和田", "ワダ"), ("石田", "イシダ"), ("森田", "モリタ"),
    ("上田", "ウエダ"), ("原", "ハラ"), ("内田", "ウチダ"), ("柴田", "シバタ"), ("酒井", "サカイ"),
    ("宮崎", "ミヤザキ"), ("横山", "ヨコヤマ"), ("高木", "タカギ"), ("安藤", "アンドウ"), ("宮本", "ミヤモト"),
    ("大野", "オオノ"), ("小島", "コジマ"), ("谷口", "タニグチ"), ("今井", "イマイ"), ("工藤", "クドウ"),
    ("高田", "タカダ"), ("増田", "マスダ"), ("丸山", "マルヤマ"), ("杉山", "スギヤマ"), ("村田", "ムラタ"),
    ("大塚", "オオツカ"), ("新井", "アライ"), ("小山", "コヤマ"), ("平野", "ヒラノ"), ("藤本", "フジモト"),
    ("河野", "コウノ"), ("上野", "ウエノ"), ("野口", "ノグチ"), ("武田", "タケダ"), ("松井", "マツイ"),
    ("千葉", "チバ"), ("岩崎", "イワサキ"), ("菅原", "スガワラ"), ("木下", "キノシタ"), ("久保", "クボ"),
    ("佐野", "サノ"), ("野村", "ノムラ"), ("松尾", "マツオ"), ("菊地", "キクチ"), ("杉本", "スギモト"),
    ("髙橋", "タカハシ"), ("山﨑", "ヤマザキ"), ("渡邊", "ワタナベ"), ("齋藤", "サイトウ"), ("濱田", "ハマダ"),
)
MALE_OLD: tuple[tuple[str, str], ...] = (
    ("清", "キヨシ"), ("茂", "シゲル"), ("博", "ヒロシ"), ("浩", "ヒロシ"), ("隆", "タカシ"), ("修", "オサム"),
    ("勇", "イサム"), ("実", "ミノル"), ("進", "ススム"), ("明", "アキラ"), ("豊", "ユタカ"), ("正夫", "マサオ"),
    ("和夫", "カズオ"), ("一郎", "イチロウ"), ("次郎", "ジロウ"), ("健一", "ケンイチ"), ("秀樹", "ヒデキ"),
    ("誠", "マコト"), ("哲也", "テツヤ"), ("和也", "カズヤ"),
)
MALE_YOUNG: tuple[tuple[str, str], ...] = (
    ("翔太", "ショウタ"), ("大輔", "ダイスケ"), ("健太", "ケンタ"), ("拓也", "タクヤ"), ("直樹", "ナオキ"),
    ("大翔", "ヒロト"), ("蓮", "レン"), ("悠真", "ユウマ"), ("陽翔", "ハルト"), ("湊", "ミナト"),
    ("蒼", "アオイ"), ("悠人", "ユウト"), ("颯太", "ソウタ"), ("達也", "タツヤ"), ("亮", "リョウ"),
    ("翼", "ツバサ"), ("駿", "シュン"), ("優", "ユウ"), ("学", "マナブ"), ("剛", "ツヨシ"),
)
FEMALE_OLD: tuple[tuple[str, str], ...] = (
    ("幸子", "サチコ"), ("和子", "カズコ"), ("恵子", "ケイコ"), ("洋子", "ヨウコ"), ("京子", "キョウコ"),
    ("節子", "セツコ"), ("文子", "フミコ"), ("千代", "チヨ"), ("ハル", "ハル"), ("キヨ", "キヨ"),
    ("花子", "ハナコ"), ("久美子", "クミコ"), ("由美子", "ユミコ"), ("陽子", "ヨウコ"), ("裕子", "ユウコ"),
    ("明美", "アケミ"), ("直美", "ナオミ"), ("純子", "ジュンコ"), ("早苗", "サナエ"), ("美奈子", "ミナコ"),
)
FEMALE_YOUNG: tuple[tuple[str, str], ...] = (
    ("美咲", "ミサキ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("葵", "アオイ"), ("さくら", "サクラ"),
    ("凛", "リン"), ("芽依", "メイ"), ("結愛", "ユア"), ("愛", "アイ"), ("彩", "アヤ"),
    ("舞", "マイ"), ("美穂", "ミホ"), ("智子", "トモコ"), ("真由美", "マユミ"), ("香織", "カオリ"),
    ("恵美", "エミ"), ("由紀", "ユキ"), ("麻衣", "マイ"), ("優子", "ユウコ"), ("奈々", "ナナ"),
)
CITY = "神奈川県横浜市"
WARDS = ("中区", "西区", "南区", "港北区", "青葉区", "戸塚区", "鶴見区", "神奈川区", "保土ケ谷区", "磯子区",
         "金沢区", "港南区", "旭区", "緑区", "瀬谷区", "栄区", "泉区", "都筑区")
TOWNS = ("本町", "山下町", "元町", "日ノ出町", "桜木町", "緑町", "中央", "栄町", "新町", "宮前",
         "東町", "西町", "南町", "北町", "大和町", "若葉台", "松ケ丘", "旭町", "泉町", "富士見町")


@dataclass(frozen=True)
class SynthSettings:
    voters: int
    seed: int
    election_day: date = date(2027, 4, 25)
    early_days: int = 13  # length of the early-voting period before election day
    districts: int | None = None  # default: one per ~8,000 voters
    deleted_rate: float = 0.003  # 抹消
    moved_within_rate: float = 0.002  # 表示 転出 県内 (recent: within three months)
    moved_outside_rate: float = 0.001  # 表示 転出 県外
    lost_rights_rate: float = 0.0005  # 表示 失権
    turning_18_rate: float = 0.002  # 18th birthday falls in the early-voting period


def _district_count(s: SynthSettings) -> int:
    return s.districts if s.districts else max(1, min(999, s.voters // 8000))


def rows(s: SynthSettings) -> Iterator[list[str]]:
    """The CSV rows (without header) of the roll ``s`` describes."""
    rng = random.Random(s.seed)
    k = _district_count(s)
    ed = s.election_day
    # Oldest 100 on election day; youngest: 18 by election day (birthday on or before the day after).
    oldest = date(ed.year - 101, ed.month, 1) + timedelta(days=31)
    youngest = _years_before(ed, 18) + timedelta(days=1)
    span = (youngest - oldest).days
    period_start = ed - timedelta(days=s.early_days)
    # Guarantee every special kind at fixed positions, whatever the rates draw.
    forced: dict[int, str] = {}
    if s.voters >= 6:
        for j, kind in enumerate(("deleted", "moved_within", "moved_outside", "lost_rights", "turning_18")):
            forced[(j + 1) * s.voters // 6] = kind
    c_del = s.deleted_rate
    c_mw = c_del + s.moved_within_rate
    c_mo = c_mw + s.moved_outside_rate
    c_lr = c_mo + s.lost_rights_rate
    c_18 = c_lr + s.turning_18_rate
    addr_cache: dict[tuple[int, int], tuple[str, int]] = {}
    for i in range(s.voters):
        kind = forced.get(i, "")
        if i not in forced:
            r = rng.random()
            kind = ("deleted" if r < c_del else "moved_within" if r < c_mw else "moved_outside" if r < c_mo
                    else "lost_rights" if r < c_lr else "turning_18" if r < c_18 else "")
        if kind == "turning_18":
            # 18th birthday between the first early-voting day and the day after election day
            b18 = period_start + timedelta(days=rng.randrange(s.early_days + 2))
            birth = _years_before(b18, 18)
        else:
            # ages weighted towards the middle: the very old are fewer
            x = rng.random()
            birth = youngest - timedelta(days=int(span * (x * x * 0.55 + x * 0.45)))
        male = rng.random() < 0.485
        old = birth.year < 1975
        fam, fam_k = FAMILY[rng.randrange(len(FAMILY))]
        pool = (MALE_OLD if old else MALE_YOUNG) if male else (FEMALE_OLD if old else FEMALE_YOUNG)
        given, given_k = pool[rng.randrange(len(pool))]
        w = rng.randrange(len(WARDS))
        t = rng.randrange(len(TOWNS))
        key = (w, t)
        if key not in addr_cache:
            # districts follow the town, like real 投票区 boundaries
            addr_cache[key] = (f"{CITY}{WARDS[w]}{TOWNS[t]}", zlib.crc32(f"{w}/{t}".encode()) % k + 1)
        base, district = addr_cache[key]
        address = f"{base}{rng.randrange(1, 8)}丁目{rng.randrange(1, 30)}番{rng.randrange(1, 25)}号"
        status, reason, moved_on, moved_to = "", "", "", ""
        if kind == "deleted":
            status = "抹消"
        elif kind == "moved_within":
            status, reason, moved_to = "表示", "転出", "県内"
            moved_on = (ed - timedelta(days=rng.randrange(5, 80))).isoformat()
        elif kind == "moved_outside":
            status, reason, moved_to = "表示", "転出", "県外"
            moved_on = (ed - timedelta(days=rng.randrange(5, 300))).isoformat()
        elif kind == "lost_rights":
            status, reason = "表示", "失権"
        if status == "" and rng.random() < 0.5:
            status = "登録"  # exports write 登録 explicitly or leave it empty; accept both
        yield [f"{i + 1:010d}", str(district), f"{fam} {given}", f"{fam_k} {given_k}", birth.isoformat(),
               "男" if male else "女", address, status, reason, moved_on, moved_to]


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def write_roll(s: SynthSettings, out: TextIO, chunk: int = 20000) -> int:
    """Write the roll as CSV (header + rows) to ``out``; returns the number of voters."""
    w = SafeWriter(out, lineterminator="\n")  # synthetic names never start like a formula; one writer for all CSV
    w.writerow(HEADER)
    batch: list[list[str]] = []
    n = 0
    for row in rows(s):
        batch.append(row)
        if len(batch) >= chunk:
            w.writerows(batch)
            n += len(batch)
            batch = []
    w.writerows(batch)
    return n + len(batch)


def write_roll_file(s: SynthSettings, path: Path) -> int:
    """Write to ``path`` via a temporary file, so a half-written roll never has the final name."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        n = write_roll(s, f)
    tmp.replace(path)
    return n
