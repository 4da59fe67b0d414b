"""The supervisor's screens: PIN, the menu, the opening check, 受付の取消, the hourly counts and the
day's report.
"""

from __future__ import annotations

from kivy.factory import Factory
from kivy.utils import escape_markup
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView

from ui_kivy.presenters.rehearsal import RUN_MENU
from ui_kivy.views import theme
from ui_kivy.views.screens.common import DIGITS, KioskScreen, PanelBox, big, keypad, name_markup, scrolled_panel, txt


class PinView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        top.add_widget(big("戻る", f.back, size_hint_x=0.2, background_color=theme.GREY))
        self.masked = txt("", theme.TEXT_BIG, size_hint_y=1, halign="center")
        top.add_widget(self.masked)
        top.add_widget(big("確定", f.pin_submit, size_hint_x=0.25, background_color=theme.GREEN))
        self.box.add_widget(txt("管理者（投票管理者）PIN", theme.TEXT, halign="center"))
        self.box.add_widget(top)
        self.msg = txt("", theme.TEXT, halign="center", color=theme.RED)
        self.box.add_widget(self.msg)
        self.box.add_widget(keypad(DIGITS + (("", "0", "削除"),), self._key, 3))

    def _key(self, k: str) -> None:
        self.flow.pin_backspace() if k == "削除" else self.flow.pin_digit(k)

    def update(self) -> None:
        self.masked.text = self.flow.pin.state.masked
        self.msg.text = self.flow.pin.state.message


class MenuView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        self.head = txt("", theme.TEXT_BIG)
        self.box.add_widget(txt("管理者メニュー", theme.TEXT, color=theme.GREY))
        self.box.add_widget(self.head)
        g = GridLayout(cols=2, spacing=16, row_default_height=110, row_force_default=True)
        self.open_btn = big("開設する（開設前の確認）", f.show_opening, height=110, background_color=theme.GREEN)
        self.close_btn = big("閉鎖する（受付終了）", f.close_station, height=110, background_color=theme.RED)
        for w in (self.open_btn, self.close_btn, big("受付の取消", f.open_void, height=110),
                  big("交付数の入力・照合（毎時）", f.open_counts, height=110),
                  big("報告（本日の集計）", f.open_report, height=110)):
            g.add_widget(w)
        self.enroll_btn = big("端末の登録（スマートカード）", f.enroll, height=110, background_color=theme.GREY)
        g.add_widget(self.enroll_btn)
        rp = getattr(f, "rehearsal", None)  # 試験モード (presenters/rehearsal.py), when the app wired it
        if rp is not None:
            g.add_widget(big(rp.menu_text, rp.menu_pressed, height=110, background_color=theme.RED))
            if rp.active:  # 試験手順を実行 (the scripted steps and their report)
                g.add_widget(big(RUN_MENU, rp.run_pressed, height=110, background_color=theme.RED))
        self.box.add_widget(g)
        self.box.add_widget(BoxLayout())
        self.box.add_widget(big("受付画面に戻る", f.back, background_color=theme.GREY))

    def update(self) -> None:
        m = self.flow.menu
        self.head.text = m.station_text
        self.open_btn.disabled = not m.can_open
        self.close_btn.disabled = not m.can_close
        self.enroll_btn.disabled = not m.can_enroll
        self.enroll_btn.opacity = 1 if m.can_enroll else 0


class VoidView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        self.box.add_widget(txt("受付の取消: 取り消す受付と理由を選んでください", theme.TEXT))
        self.list = BoxLayout(orientation="vertical", size_hint_y=None, spacing=6)
        self.list.bind(minimum_height=self.list.setter("height"))
        sv = ScrollView(do_scroll_x=False, bar_width=14)
        sv.add_widget(self.list)
        self.box.add_widget(sv)
        self.reasons = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=8)
        self.box.add_widget(self.reasons)
        row = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=16)
        row.add_widget(big("戻る", f.back, size_hint_x=0.3, background_color=theme.GREY))
        self.go = big("取消を記録する", lambda: f.void(), background_color=theme.RED)
        row.add_widget(self.go)
        self.box.add_widget(row)

    def update(self) -> None:
        s = self.flow.void_state
        self.list.clear_widgets()
        for r in s.rows:
            mark = "● " if r.selected else ""
            head, _, tail = r.text.partition(r.name) if r.name else (r.text, "", "")
            text = escape_markup(mark + head) + (name_markup(r.name) if r.name else "") + escape_markup(tail)
            b = Factory.Big(text=text, markup=True, background_color=theme.BLUE if r.selected else theme.WHITE,
                            color=theme.WHITE if r.selected else theme.INK, disabled=r.voided, halign="left")
            b.bind(on_release=lambda _b, seq=r.seq: self.flow.void_select(seq))
            self.list.add_widget(b)
        self.reasons.clear_widgets()
        for reason in s.reasons:
            chosen = reason == s.reason
            self.reasons.add_widget(big(("● " if chosen else "") + reason, lambda r=reason: self.flow.void_reason(r),
                                        background_color=theme.BLUE if chosen else theme.GREY, font_size=24))
        self.go.disabled = not s.can_void


class CountsView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=12)
        self.head = txt("", 24, size_hint_y=1)
        top.add_widget(self.head)
        top.add_widget(big("戻る", f.back, size_hint_x=0.25, background_color=theme.GREY))
        self.box.add_widget(top)
        body = BoxLayout(spacing=16)
        self.rows = BoxLayout(orientation="vertical", spacing=6)
        body.add_widget(self.rows)
        side = BoxLayout(orientation="vertical", size_hint_x=0.5, spacing=8)
        side.add_widget(keypad(DIGITS + (("", "0", "削除"),), self._key, 3))
        side.add_widget(big("交付数を記録", lambda: f.enter_hourly_count(), background_color=theme.GREEN))
        body.add_widget(side)
        self.box.add_widget(body)

    def _key(self, k: str) -> None:
        self.flow.counts_backspace() if k == "削除" else self.flow.counts_digit(k)

    def update(self) -> None:
        s = self.flow.counts_state
        self.head.text = f"{s.hour}時の交付数（累計）を選挙ごとに入力し、名簿対照数と照合します"
        self.rows.clear_widgets()
        for r in s.rows:
            line = BoxLayout(size_hint_y=None, height=92, spacing=8)
            sel = Factory.Big(text=("● " if r.selected else "") + r.name, font_size=24, size_hint_x=1.3,
                              background_color=theme.BLUE if r.selected else theme.WHITE,
                              color=theme.WHITE if r.selected else theme.INK)
            sel.bind(on_release=lambda _b, c=r.contest: self.flow.counts_select(c))
            line.add_widget(sel)
            line.add_widget(txt(f"{r.recorded_text}\n{r.issued_text}", 24, size_hint_y=1))
            diff = txt(f"[b]{r.diff_text}[/b]", 24, size_hint_y=1, color=theme.RED if r.mismatch else theme.GREEN)
            line.add_widget(diff)
            self.rows.add_widget(line)
        self.rows.add_widget(BoxLayout())


class OpeningView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        self.box.add_widget(txt("開設前の確認（投票管理者）", theme.TEXT, color=theme.GREY))
        self.panel = PanelBox()
        self.box.add_widget(self.panel)
        self.box.add_widget(BoxLayout())
        row = BoxLayout(size_hint_y=None, height=120, spacing=16)
        row.add_widget(big("受付画面へ", f.back, height=120, size_hint_x=0.5, background_color=theme.GREY))
        row.add_widget(big("本部と再確認", f.show_opening, height=120, size_hint_x=0.6))
        self.open_btn = big("開設する", f.open_station, height=120, background_color=theme.GREEN,
                            font_size=theme.TEXT_BIG)
        row.add_widget(self.open_btn)
        self.box.add_widget(row)

    def update(self) -> None:
        self.panel.show(self.flow.opening, theme.TEXT, 26)
        self.open_btn.disabled = not self.flow.opening_ok or self.flow.service.station_state().is_open


class ReportView(KioskScreen):
    def build(self) -> None:
        self.panel = PanelBox()
        self.box.add_widget(scrolled_panel(self.panel))
        self.box.add_widget(big("管理者メニューに戻る", self.flow.back, height=104, background_color=theme.GREY))

    def update(self) -> None:
        self.panel.show(self.flow.report, theme.TEXT, 26)
