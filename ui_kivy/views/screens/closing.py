"""The closing flow's screens: 受領数・交付数・残数 per contest, then the closing panel."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout

from ui_kivy.presenters.closing import FIELDS
from ui_kivy.views import theme
from ui_kivy.views.screens.common import KioskScreen, PanelBox, big, digit_pad, scrolled, scrolled_panel, txt


class ClosingView(KioskScreen):
    def build(self) -> None:
        self.panel = PanelBox()
        self.box.add_widget(scrolled_panel(self.panel))
        self.box.add_widget(big("管理者メニューに戻る", self.flow.back, height=110, background_color=theme.GREY))

    def update(self) -> None:
        self.panel.show(self.flow.closing, theme.TEXT, 26)


class CloseEntryView(KioskScreen):
    """閉鎖: 受領数・交付数・残数 per contest (tap a cell, type on the pad), then 閉鎖する."""

    def build(self) -> None:
        f = self.flow
        self.box.add_widget(txt("閉鎖の前に、選挙ごとに受領数・交付数・残数を入力してください（受領数 − 交付数 − 残数 = 0 を確認）", 24))
        body = BoxLayout(spacing=14)
        self.rows = BoxLayout(orientation="vertical", spacing=6)
        body.add_widget(scrolled(self.rows))
        side = BoxLayout(orientation="vertical", spacing=8, size_hint_x=0.42)
        side.add_widget(digit_pad(f.closing_digit, f.closing_backspace, "次へ", f.closing_next))
        row = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=8)
        row.add_widget(big("戻る", f.back, size_hint_x=0.6, background_color=theme.GREY))
        self.go = big("閉鎖する", f.submit_closing, background_color=theme.RED)
        row.add_widget(self.go)
        side.add_widget(row)
        body.add_widget(side)
        self.box.add_widget(body)

    def update(self) -> None:
        e = self.flow.close_entry
        self.rows.clear_widgets()
        for r in e.rows:
            line = BoxLayout(size_hint_y=None, height=92, spacing=6)
            line.add_widget(txt(f"{r.name}\n[size=24][color=555555]名簿対照数 {r.matched}[/color][/size]", 24,
                                size_hint_y=1))
            for i in range(len(FIELDS)):
                sel = e.selected == (r.contest, i)
                b = Factory.Big(text=e.cell_text(r, i), font_size=24, size_hint_x=0.42, height=92,
                                background_color=theme.BLUE if sel else theme.WHITE,
                                color=theme.WHITE if sel else theme.INK)
                b.bind(on_release=lambda _b, c=r.contest, i=i: self.flow.closing_select(c, i))
                line.add_widget(b)
            self.rows.add_widget(line)
        self.go.text = "閉鎖する" if e.complete else "閉鎖する\n（未入力あり）"
        self.go.font_size = theme.TEXT if e.complete else 24
