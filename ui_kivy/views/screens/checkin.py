"""The check-in flow's screens: 本人確認 with the procedures (不在者, 宣誓書事由, 代理/点字, 仮投票 on
doubt), the wait while HQ is asked, and the result (交付する / 交付しない, hard stop, next voter).
"""

from __future__ import annotations

from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.utils import escape_markup

from ui_kivy.fonts import NAME_FONT
from ui_kivy.views import theme
from ui_kivy.views.screens.common import KioskScreen, PanelBox, big, choice, field, name_markup, scrolled, txt


class ConfirmView(KioskScreen):
    """本人確認 with the procedures: 不在者 warning, 宣誓書事由 (early stations), 代理/点字, 仮投票."""

    def build(self) -> None:
        f = self.flow
        cols = BoxLayout(spacing=24)
        self.col_l = BoxLayout(orientation="vertical", spacing=2)
        self.col_r = BoxLayout(orientation="vertical", spacing=4)
        cols.add_widget(self.col_l)
        cols.add_widget(self.col_r)
        self.box.add_widget(cols)
        self.absentee = PanelBox()
        self.box.add_widget(self.absentee)
        self.age = PanelBox()  # 年齢確認 (生年月日 不詳)
        self.box.add_widget(self.age)
        self.oaths = GridLayout(cols=3, spacing=8, size_hint_y=None, row_default_height=92, row_force_default=True)
        self.oaths.bind(minimum_height=self.oaths.setter("height"))
        self.box.add_widget(self.oaths)
        row = BoxLayout(size_hint_y=None, height=104, spacing=10)
        row.add_widget(big("戻る", f.back, height=104, size_hint_x=0.55, background_color=theme.GREY))
        self.proxy = big("代理投票", f.toggle_proxy, height=104, size_hint_x=0.7, font_size=26)
        self.braille = big("点字投票", f.toggle_braille, height=104, size_hint_x=0.7, font_size=26)
        self.doubt = big("仮投票\n（本人確認に疑義）", f.doubt_identity, height=104, size_hint_x=0.8, font_size=24,
                         background_color=theme.RED)
        self.ok = big("受付", lambda: self.run(self.flow.confirm_checkin()), height=104,
                      background_color=theme.GREEN, font_size=theme.TEXT_BIG, size_hint_x=1.3)
        for w in (self.proxy, self.braille, self.doubt, self.ok):
            row.add_widget(w)
        self.box.add_widget(row)

    def update(self) -> None:
        c = self.flow.confirm
        self.col_l.clear_widgets()
        self.col_r.clear_widgets()
        self.oaths.clear_widgets()
        if c is None:
            return
        m = self.flow.marks
        small = m.oath_required or self.flow.absentee is not None or m.age_required
        if not small:
            self.col_l.add_widget(txt("本人確認", 24, color=theme.GREY))
        self.col_l.add_widget(txt(f"[b]{escape_markup(c.name)}[/b]", theme.TEXT_BIG if small else theme.TEXT_HUGE,
                                  font_name=NAME_FONT))  # IPAmj明朝: IVS drawn as registered
        self.col_l.add_widget(txt(c.kana, theme.TEXT if small else theme.TEXT_BIG))
        if small:  # room for the 宣誓書 choices and the 不在者 warning: three lines of details
            self.col_l.add_widget(field("生年月日", c.birth, 24))
            self.col_l.add_widget(field("住所", c.address, 24))
            self.col_l.add_widget(field(c.district, f"選挙人番号 {c.voter_id}  {c.status}", 24))
        else:
            for label, value in (("生年月日", c.birth), ("住所", c.address), ("投票区", c.district),
                                 ("選挙人番号", c.voter_id), ("状態", c.status)):
                self.col_l.add_widget(field(label, value))
        self.col_l.add_widget(BoxLayout())
        self.absentee.show(self.flow.absentee, 24, 24)
        self.age.show(self.flow.age_panel, 24, 24)
        if not small:
            self.col_r.add_widget(txt("この投票所での交付", 24, color=theme.GREY))
        for p in c.lines:
            colour = "0a6a2a" if p.ok else "b01010"
            self.col_r.add_widget(txt(f"[b]{p.name}[/b]  [color={colour}]{p.text}[/color]", 24))
        self.col_r.add_widget(BoxLayout())
        if m.age_required and m.age_id is None and c.can_hand:  # 年齢確認 first, then the 宣誓書事由
            for code, label in m.age_choices:
                self.oaths.add_widget(choice(label, False, lambda code=code: self.flow.choose_age_id(code),
                                             height=92, font_size=24))
        elif m.oath_required and c.can_hand:
            for code, label in m.choices:
                self.oaths.add_widget(choice(label, m.oath == code, lambda code=code: self.flow.choose_oath(code),
                                             height=92, font_size=24))
        self.proxy.text = ("● " if m.proxy else "") + "代理投票"
        self.braille.text = ("● " if m.braille else "") + "点字投票"
        for b, on in ((self.proxy, m.proxy), (self.braille, m.braille)):
            b.background_color = theme.BLUE if on else theme.GREY
        self.ok.text = (c.button_text if self.flow.can_confirm else
                        "受付（年齢確認の書類を選ぶ）" if m.age_required and m.age_id is None else "受付（事由を選ぶ）")
        self.ok.disabled = not self.flow.can_confirm
        self.ok.background_color = theme.GREEN if c.can_hand else theme.GREY


class CheckingView(KioskScreen):
    def build(self) -> None:
        self.box.add_widget(txt("本部に確認中… そのままお待ちください", theme.TEXT_BIG, halign="center", size_hint_y=1))


class ResultView(KioskScreen):
    def build(self) -> None:
        self.banner = Factory.Banner()
        self.box.add_widget(self.banner)
        self.cols = BoxLayout(spacing=24)
        self.hand = BoxLayout(orientation="vertical", spacing=8)
        self.withhold = BoxLayout(orientation="vertical", spacing=6)
        self.hand_sv, self.withhold_sv = scrolled(self.hand), scrolled(self.withhold)
        self.box.add_widget(self.cols)
        self.actions = BoxLayout(size_hint_y=None, height=120, spacing=16)
        self.box.add_widget(self.actions)

    def update(self) -> None:
        r = self.flow.result
        if r is None:
            return
        self.banner.colour = r.colour
        self.banner.title = r.title
        self.banner.subtitle = f"{name_markup(r.voter_name)} 様 — {escape_markup(r.subtitle)}" + (f"（受付 {r.seq}）" if r.seq else "")
        self.hand.clear_widgets()
        self.withhold.clear_widgets()
        self.cols.clear_widgets()
        if r.hand:
            self.cols.add_widget(self.hand_sv)
            self.hand.add_widget(txt("[color=0a6a2a]✓ 交付する（この順に手渡す）[/color]", theme.TEXT))
            for h in r.hand:
                self.hand.add_widget(txt(f"[b]{h.text}[/b]", 38))
                if h.note:
                    self.hand.add_widget(txt(f"※ {h.note}", 24))
        if r.withhold:
            self.cols.add_widget(self.withhold_sv)
            self.withhold.add_widget(txt("[color=b01010]× 交付しない[/color]", theme.TEXT))
            reasons = {w.reason for w in r.withhold}
            shared = len(reasons) == 1 and len(r.withhold) > 1
            for w in r.withhold:
                self.withhold.add_widget(txt(f"[b][color=b01010]{w.text}[/color][/b]", 34))
                if not shared:
                    self.withhold.add_widget(txt(w.reason, 24))
            if shared:
                self.withhold.add_widget(txt(f"理由（全 {len(r.withhold)} 枚）: {r.withhold[0].reason}", 26))
        self.actions.clear_widgets()
        for a in r.actions:
            self.actions.add_widget(big(a.label, lambda a=a: self.run(self.flow.on_result_action(a.id)), height=120,
                                        font_size=theme.TEXT_BIG))
