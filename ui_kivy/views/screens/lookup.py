"""The lookup flow's screens: the idle screen (barcode scan), the kana search, its results and the
birth-date narrowing. A tap on a result picks the voter.
"""

from __future__ import annotations

from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from ui_kivy.presenters.search import ERA_KEYS, KEYPAD
from ui_kivy.views import theme
from ui_kivy.views.screens.common import DIGITS, UNLISTED, KioskScreen, big, keypad, name_markup, txt


class IdleView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        self.station = txt("", theme.TEXT_BIG, bold=True)
        self.clerk = txt("")
        self.prompt = txt("", theme.TEXT_HUGE, halign="center")
        self.prompt.size_hint_y = 1
        self.closed = txt("", theme.TEXT_BIG, halign="center", color=theme.RED)
        self.row = row = BoxLayout(size_hint_y=None, height=130, spacing=16)
        self.search_btn = big("検索（氏名カナ）", f.open_search, height=130, font_size=theme.TEXT_BIG)
        self.zaigai_btn = big("在外選挙人", f.open_zaigai, height=130, size_hint_x=0.45, background_color=theme.BLUE)
        self.sup_btn = big("管理者", f.open_supervisor, height=130, size_hint_x=0.35, background_color=theme.GREY)
        row.add_widget(self.search_btn)
        row.add_widget(self.sup_btn)
        for w in (self.station, self.clerk, self.prompt, self.closed, row):
            self.box.add_widget(w)

    def update(self) -> None:
        s = self.flow.idle
        self.station.text = s.station_name
        self.clerk.text = f"担当: {s.clerk}"
        self.prompt.text = ("▶ " + s.prompt) if s.station_open else ""
        self.closed.text = "" if s.station_open else f"× {s.closed_text}"
        # 在外選挙人: only where they are taken (early stations and designated ones)
        want = s.station_open and self.flow.zaigai_here
        if want and self.zaigai_btn.parent is None:
            self.row.add_widget(self.zaigai_btn, index=1)
        elif not want and self.zaigai_btn.parent is not None:
            self.row.remove_widget(self.zaigai_btn)


class KanaView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        top.add_widget(big("戻る", f.back, size_hint_x=0.22, background_color=theme.GREY))
        self.query = txt("", theme.TEXT_BIG, size_hint_y=1, halign="center")
        top.add_widget(self.query)
        self.go = big("一覧を見る", f.show_results, size_hint_x=0.38, background_color=theme.GREEN)
        top.add_widget(self.go)
        top.add_widget(big(UNLISTED, f.declare_unlisted, size_hint_x=0.36, font_size=24, background_color=theme.RED))
        self.box.add_widget(top)
        self.box.add_widget(keypad(KEYPAD, f.on_kana, 10))

    def update(self) -> None:
        s = self.flow.search.state
        self.query.text = f"カナ: [b]{s.query or '＿'}[/b]" + (f"  [size=24]{s.message}[/size]" if s.message else "")
        self.go.text = f"一覧を見る（{s.count_text or '0 件'}）"


class ResultsView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        top.add_widget(big("戻る", f.back, size_hint_x=0.2, background_color=theme.GREY))
        self.head = txt("", theme.TEXT, size_hint_y=1)
        top.add_widget(self.head)
        top.add_widget(big("生年月日で絞り込み", f.open_birth, size_hint_x=0.33))
        top.add_widget(big(UNLISTED, f.declare_unlisted, size_hint_x=0.36, font_size=24, background_color=theme.RED))
        self.box.add_widget(top)
        self.list = BoxLayout(orientation="vertical", size_hint_y=None, spacing=8)
        self.list.bind(minimum_height=self.list.setter("height"))
        sv = ScrollView(do_scroll_x=False, bar_width=14)
        sv.add_widget(self.list)
        self.box.add_widget(sv)

    def update(self) -> None:
        s = self.flow.search.state
        self.head.text = f"「{s.query}」 {s.count_text}" + (f"  {s.birth_filter}" if s.birth_filter else "") + (
            f"\n{s.message}" if s.message else "")
        self.list.clear_widgets()
        for r in s.rows:
            voted = f"   [color=b01010]× {r.voted_text}[/color]" if r.voted_text else ""
            b = Factory.Big(text=f"[size=36][b]{name_markup(r.name)}[/b][/size]  {r.kana}{voted}\n{r.birth}   {r.address}",
                            markup=True, height=124, background_color=theme.WHITE, color=theme.INK, halign="left")
            b.bind(on_release=lambda _b, vid=r.voter_id: self.flow.pick(vid))
            self.list.add_widget(b)


class BirthView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        top.add_widget(big("戻る", f.back, size_hint_x=0.2, background_color=theme.GREY))
        self.text = txt("", theme.TEXT_BIG, size_hint_y=1, halign="center")
        top.add_widget(self.text)
        top.add_widget(big("絞り込む", f.birth_apply, size_hint_x=0.28, background_color=theme.GREEN))
        self.box.add_widget(top)
        eras = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=8)
        for e in ERA_KEYS:
            eras.add_widget(big(e, lambda e=e: f.birth_era(e)))
        self.box.add_widget(eras)
        pad = keypad(DIGITS + (("次へ", "0", "クリア"),), self._key, 3)
        self.box.add_widget(pad)

    def _key(self, k: str) -> None:
        {"次へ": self.flow.birth_next, "クリア": self.flow.birth_clear}.get(k, lambda: self.flow.birth_digit(k))()

    def update(self) -> None:
        s = self.flow.search.state
        self.text.text = "生年月日: " + s.birth.text + (f"\n[size=24]{s.message}[/size]" if s.message else "")
