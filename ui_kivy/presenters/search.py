"""Search (名簿検索): an on-screen 50音 keypad, live results, narrowing by birth date (和暦).

No physical keyboard at a station: every character comes from ``on_kana`` with one key of
``KEYPAD``. ゛/゜ voice the last letter, 小 toggles its small form. Results update after every key
(the roll lookup reads at most 51 rows by index). Birth-date narrowing takes an era and the year
alone (filters the shown results) or year, month and day (an exact lookup). A 生年月日 partly 不詳
never hides a voter: a known year with an unknown month or day matches its year (and the full
date of any day it could be, in the lookup); an unknown year matches any narrowing and the row is
marked 生年月日 不詳, so the poll worker sees why it is there.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date

from ground.birthdate import BirthDate
from ground.errors import MeiboError
from appliance.wareki import ERAS, Era, WarekiInvalid, era_of, from_era
from ground.names import display_name
from ui_kivy.presenters.format import birth_text
from ui_kivy.service import KioskService, VoterCard

VOICED, SEMI, SMALL, DELETE, CLEAR, SPACE = "゛", "゜", "小", "削除", "全消去", "空白"
KEYPAD: tuple[tuple[str, ...], ...] = (
    ("ア", "カ", "サ", "タ", "ナ", "ハ", "マ", "ヤ", "ラ", "ワ"),
    ("イ", "キ", "シ", "チ", "ニ", "ヒ", "ミ", "", "リ", "ヲ"),
    ("ウ", "ク", "ス", "ツ", "ヌ", "フ", "ム", "ユ", "ル", "ン"),
    ("エ", "ケ", "セ", "テ", "ネ", "ヘ", "メ", "", "レ", "ー"),
    ("オ", "コ", "ソ", "ト", "ノ", "ホ", "モ", "ヨ", "ロ", ""),
    (VOICED, SEMI, SMALL, "", "", "", "", "", DELETE, CLEAR),
)
# the declared name of a 仮投票 (氏 and 名 apart): the same pad with a space key
NAME_KEYPAD: tuple[tuple[str, ...], ...] = KEYPAD[:5] + ((VOICED, SEMI, SMALL, SPACE, "", "", "", "", DELETE, CLEAR),)
_SMALL = dict(zip("アイウエオツヤユヨワカケ", "ァィゥェォッャュョヮヵヶ"))
_SMALL.update({v: k for k, v in _SMALL.items()})
ERA_KEYS = tuple(e.name for e in ERAS[1:])  # 大正 昭和 平成 令和 (明治 has nobody left on a roll)


@dataclass(frozen=True)
class ResultRow:
    voter_id: str
    name: str
    kana: str
    birth: str
    address: str
    voted_text: str  # "" or "投票済あり"


@dataclass(frozen=True)
class BirthInput:
    era: str = ""
    parts: tuple[str, str, str] = ("", "", "")  # year, month, day digits
    field: int = 0  # 0 year, 1 month, 2 day

    @property
    def text(self) -> str:
        y, m, d = self.parts
        if not self.era:
            return "元号を選んでください"
        return f"{self.era} {y or '__'}年 {m or '__'}月 {d or '__'}日"


@dataclass(frozen=True)
class SearchState:
    query: str = ""
    rows: tuple[ResultRow, ...] = ()
    count_text: str = ""
    truncated: bool = False
    message: str = ""
    birth: BirthInput = field(default_factory=BirthInput)
    birth_filter: str = ""  # shown when results are narrowed


def edit_kana(q: str, key: str) -> str | None:
    """One key of ``KEYPAD`` (or ``SPACE``) applied to ``q``; None for a key that does nothing."""
    if key == DELETE:
        return q[:-1]
    if key == CLEAR:
        return ""
    if key == SPACE:
        return q + " " if q and not q.endswith(" ") else q
    if key in (VOICED, SEMI):
        if q:
            mark = "\u3099" if key == VOICED else "\u309a"
            parts = unicodedata.normalize("NFD", q[-1])
            if parts[1:] == mark:  # pressed again: back to the plain letter
                return q[:-1] + parts[0]
            composed = unicodedata.normalize("NFC", parts[0] + mark)
            if len(composed) == 1:
                return q[:-1] + composed
        return q
    if key == SMALL:
        return q[:-1] + _SMALL[q[-1]] if q and q[-1] in _SMALL else q
    if key and len(key) == 1:
        return q + key
    return None


def birth_digit(b: BirthInput, digit: str) -> BirthInput:
    """A digit typed into the year / month / day field (two digits each, then the next field)."""
    if not (len(digit) == 1 and digit.isdigit()) or not b.era:
        return b
    parts = list(b.parts)
    if len(parts[b.field]) >= 2:
        return b
    parts[b.field] += digit
    fld = b.field
    if len(parts[fld]) == 2 and fld < 2:
        fld += 1
    return BirthInput(b.era, (parts[0], parts[1], parts[2]), fld)


def birth_date(b: BirthInput) -> date:
    """The full date typed (era, year, month and day); ``WarekiInvalid`` with a Japanese message."""
    era = next((e for e in ERAS if e.name == b.era), None)
    y, m, d = b.parts
    if era is None or not (y and m and d):
        raise WarekiInvalid("元号・年・月・日をすべて入力してください")
    return from_era(era, int(y), int(m), int(d))


UNSURE_MARK = "生年月日 不詳"  # shown on a row kept by a narrowing its unknown year cannot rule out


def birth_of(card: VoterCard) -> BirthDate | None:
    """The card's 生年月日 as registered (``None`` when nothing of it is known)."""
    if card.birth is not None:
        return card.birth
    return BirthDate.of(card.birth_date) if card.birth_date is not None else None


def year_match(card: VoterCard, era: Era, year: int) -> bool | None:
    """Could the voter have been born in western ``year`` of ``era``? True / False, or ``None`` when
    the year is 不詳 (it could be any)."""
    b = birth_of(card)
    if b is None or b.year is None:
        return None
    first, last = b.earliest(), b.latest()
    assert first is not None and last is not None
    return b.year == year and era in (era_of(first), era_of(last))


class SearchPresenter:
    def __init__(self, service: KioskService) -> None:
        self.service = service
        self.state = SearchState()
        self._cards: tuple[VoterCard, ...] = ()

    def reset(self) -> None:
        self.state = SearchState()
        self._cards = ()

    # -- kana ----------------------------------------------------------------------------------
    def on_kana(self, key: str) -> None:
        q = edit_kana(self.state.query, key)
        if q is None:
            return
        self.state = replace(self.state, query=q, birth=BirthInput(), birth_filter="")
        self._run(None)

    def _run(self, birth: date | None) -> None:
        q = self.state.query
        if not q:
            self._cards = ()
            self.state = replace(self.state, rows=(), count_text="", truncated=False, message="")
            return
        try:
            ans = self.service.search_kana(q, birth)
        except MeiboError as e:
            self._cards = ()
            self.state = replace(self.state, rows=(), count_text="", truncated=False, message=e.message)
            return
        self._show(ans.cards, ans.truncated)

    def _show(self, cards: tuple[VoterCard, ...], truncated: bool, unsure: frozenset[str] = frozenset()) -> None:
        self._cards = cards
        rows = tuple(ResultRow(c.voter_id, display_name(c.name, c.kana), c.kana,
                               f"{UNSURE_MARK}（絞り込めません）" if c.voter_id in unsure else birth_text(c),
                               c.address, "投票済あり" if c.voted else "") for c in cards)
        if not cards:
            count, msg = "0 件", "該当する方がいません。カナや生年月日を確かめてください"
        else:
            count = f"{len(cards)} 件" + ("以上（生年月日で絞り込んでください）" if truncated else "")
            msg = ""
        self.state = replace(self.state, rows=rows, count_text=count, truncated=truncated, message=msg)

    # -- birth-date narrowing -----------------------------------------------------------------
    def birth_era(self, era: str) -> None:
        if era not in ERA_KEYS:
            raise ValueError(era)
        self.state = replace(self.state, birth=BirthInput(era))

    def birth_digit(self, digit: str) -> None:
        self.state = replace(self.state, birth=birth_digit(self.state.birth, digit))

    def birth_next(self) -> None:
        b = self.state.birth
        self.state = replace(self.state, birth=replace(b, field=min(2, b.field + 1)))

    def birth_clear(self) -> None:
        self.state = replace(self.state, birth=BirthInput(), birth_filter="")
        self._run(None)

    def birth_apply(self) -> bool:
        """Narrow the results; False (with a message) when the date cannot be read."""
        b = self.state.birth
        era = next((e for e in ERAS if e.name == b.era), None)
        y, m, d = b.parts
        if era is None or not y:
            self.state = replace(self.state, message="元号と年を入力してください")
            return False
        try:
            if m and d:
                day = from_era(era, int(y), int(m), int(d))
                self._run(day)
                self.state = replace(self.state, birth_filter=f"生年月日 {b.era}{int(y)}年{int(m)}月{int(d)}日")
                return True
            if m or d:
                raise WarekiInvalid("月と日を両方入力するか、年だけにしてください")
            first = from_era(era, int(y), 12, 31) if int(y) > 1 else era.first
        except WarekiInvalid as e:
            self.state = replace(self.state, message=str(e.args[0]))
            return False
        self._run(None)
        matched = {c.voter_id: year_match(c, era, first.year) for c in self._cards}
        cards = tuple(c for c in self._cards if matched[c.voter_id] is not False)
        self._show(cards, False, frozenset(v for v, m in matched.items() if m is None))
        self.state = replace(self.state, birth_filter=f"生年 {b.era}{int(y)}年")
        return True

    def card(self, voter_id: str) -> VoterCard | None:
        return next((c for c in self._cards if c.voter_id == voter_id), None)
