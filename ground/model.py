"""The words of the domain as types: voters (選挙人), contests, stations, the election day.

Pure: no I/O. Ids are ``NewType`` strings so that a station id is never passed as a voter id.
A voter's 生年月日 is a ``ground.birthdate.BirthDate`` (parts may be 不詳, issue 19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from enum import Enum
from typing import NewType

from ground.birthdate import BirthDate, as_birth

VoterId = NewType("VoterId", str)  # 選挙人番号
TerminalId = NewType("TerminalId", str)
StationId = NewType("StationId", str)
ContestId = NewType("ContestId", str)
ClerkId = NewType("ClerkId", str)  # 投票事務従事者

HQ_TERMINAL = TerminalId("HQ")  # events HQ writes itself (不在者投票) carry this terminal id


class Level(str, Enum):
    NATIONAL = "national"
    PREFECTURAL = "prefectural"
    MUNICIPAL = "municipal"


class StationKind(str, Enum):
    EARLY = "early"  # 期日前投票所
    COMMON = "common"  # 共通投票所
    DAY = "day"  # 当日投票所

    @property
    def ja(self) -> str:
        return {"early": "期日前投票所", "common": "共通投票所", "day": "当日投票所"}[self.value]


class Status(str, Enum):
    """状態 of a roll row."""

    REGISTERED = "registered"  # 登録
    DELETED = "deleted"  # 抹消
    DISPLAYED = "displayed"  # 表示

    @property
    def ja(self) -> str:
        return {"registered": "登録", "deleted": "抹消", "displayed": "表示"}[self.value]


class DisplayReason(str, Enum):
    """The kind of a 表示 mark."""

    MOVED = "moved"  # 転出
    LOST_RIGHTS = "lost_rights"  # 失権


class Sex(str, Enum):
    MALE = "M"
    FEMALE = "F"

    @property
    def ja(self) -> str:
        return "男" if self is Sex.MALE else "女"


@dataclass(frozen=True)
class Voter:
    """One row of the 選挙人名簿, holding only what a check-in needs.

    ``birth_date`` is a ``BirthDate`` whose parts may be 不詳; a ``date`` given here is taken as a
    fully known birth date (converted on construction). ``atena`` is the 宛名番号 when the export
    has one (kept at HQ; not carried in the roll package).
    """

    voter_id: VoterId
    district: int  # 投票区
    name: str  # 氏名, kanji kept as written
    name_kana: str  # 氏名カナ, full-width katakana, one space between family and given name
    birth_date: BirthDate
    sex: Sex
    address: str
    status: Status = Status.REGISTERED
    display_reason: DisplayReason | None = None
    moved_on: date | None = None  # 転出日 for 表示(転出)
    moved_within_prefecture: bool | None = None
    page: int | None = None  # 頁
    line: int | None = None  # 行
    atena: str | None = None  # 宛名番号 (住基 person number), check digit already validated

    def __post_init__(self) -> None:
        if not isinstance(self.birth_date, BirthDate):
            object.__setattr__(self, "birth_date", as_birth(self.birth_date))


@dataclass(frozen=True)
class Contest:
    """One ballot of the election day (同日選挙 means several)."""

    contest_id: ContestId
    name: str
    level: Level
    early_voting_start: date
    early_voting_end: date


@dataclass(frozen=True)
class OpenWindow:
    """Days and hours a station is open (both ends inclusive; hours end-exclusive)."""

    first_day: date
    last_day: date
    opens: time
    closes: time  # time(0, 0) never; 24:00 is represented as time.max


@dataclass(frozen=True)
class Station:
    station_id: StationId
    name: str
    kind: StationKind
    district: int | None = None  # only for DAY stations
    windows: tuple[OpenWindow, ...] = ()


@dataclass(frozen=True)
class BarcodeFormat:
    """入場整理券 barcode: ``prefix`` + 選挙人番号 + a check digit, in one symbology (see ground/barcode.py).

    The defaults read as before: bare digits, Luhn (``luhn``) unless ``check`` names a scheme.
    """

    prefix: str = ""
    luhn: bool = True
    symbology: str = "digits"          # digits | code128 | nw7 | qr
    check: str = ""                     # "" = luhn/none from ``luhn``; else a scheme of ground.barcode
    nw7_start: str = "ABCD"             # NW-7 start characters accepted (the first is printed)
    nw7_stop: str = "ABCD"
    voter_digits: int = 0               # 選挙人番号's fixed length, 0 = any
    election: str = ""                  # QR: the election field's expected value
    qr_separator: str = "|"
    qr_fields: tuple[str, ...] = ("election", "district", "voter")


@dataclass(frozen=True)
class ElectionConfig:
    election_id: str
    name: str
    election_day: date
    early_voting_start: date
    early_voting_end: date
    hq_address: str  # host:port on the closed network ([hq] address, or the first of addresses)
    contests: tuple[Contest, ...]
    stations: tuple[Station, ...]
    barcode: BarcodeFormat = field(default_factory=BarcodeFormat)
    closed_apn: str | None = None
    hq_store: str | None = None  # [hq] store: HQ's store URL (hq/store_db.py); None: hq.db
    hq_addresses: tuple[str, ...] = ()  # [hq] addresses: every HQ node, in the order terminals try them

    @property
    def hq_nodes(self) -> tuple[str, ...]:
        """Every HQ node's host:port (one when election.toml names only ``address``)."""
        return self.hq_addresses or (self.hq_address,)

    def station(self, station_id: str) -> Station:
        for s in self.stations:
            if s.station_id == station_id:
                return s
        raise KeyError(station_id)

    def contest(self, contest_id: str) -> Contest:
        for c in self.contests:
            if c.contest_id == contest_id:
                return c
        raise KeyError(contest_id)

    @property
    def contest_ids(self) -> tuple[ContestId, ...]:
        return tuple(c.contest_id for c in self.contests)
