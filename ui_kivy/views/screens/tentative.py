"""The 仮投票 flow's screens: the tentative ballot itself, and declaring a person not on the roll
(name in kana, then the claimed birth date).
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from ui_kivy.presenters.procedures import DECIDERS, TENTATIVE_INSTRUCTION, TENTATIVE_TITLE, Panel, who_text
from ui_kivy.presenters.search import ERA_KEYS, NAME_KEYPAD
from ui_kivy.views import theme
from ui_kivy.views.screens.common import DIGITS, KioskScreen, PanelBox, big, choice, keypad, name_markup, txt


class TentativeView(KioskScreen):
    def build(self) -> None:
        self.head = PanelBox()
        self.box.add_widget(self.head)
        self.head_title = TENTATIVE_TITLE
        self.body = BoxLayout(orientation="vertical", spacing=8)
        self.box.add_widget(self.body)
        self.row = BoxLayout(size_hint_y=None, height=104, spacing=16)
        self.box.add_widget(self.row)

    def update(self) -> None:
        t = self.flow.tentative
        if t is None:
            return
        f = self.flow
        self.body.clear_widgets()
        self.row.clear_widgets()
        if t.done is not None:
            self.head.show(Panel("red", f"✓ 仮投票を記録しました — {TENTATIVE_INSTRUCTION}",
                                 (f"{name_markup(t.voter_name)} 様",)), theme.TEXT_BIG, theme.TEXT)
            for line in t.message.splitlines():
                self.body.add_widget(txt(line.strip(), 26))
            self.body.add_widget(BoxLayout())
            self.row.add_widget(big("次の方へ", f.leave_tentative, height=110, font_size=theme.TEXT_BIG))
            return
        self.head.show(Panel("red", self.head_title, (who_text(t),)), theme.TEXT, 26)
        reasons = BoxLayout(size_hint_y=None, height=92, spacing=8)
        reasons.add_widget(txt("理由", 24, size_hint_x=0.25, size_hint_y=1))
        for code, label in t.reasons:
            reasons.add_widget(choice(label, t.reason == code, lambda code=code: f.tentative_reason(code), height=92))
        self.body.add_widget(reasons)
        who = BoxLayout(size_hint_y=None, height=92, spacing=8)
        who.add_widget(txt("決定した人", 24, size_hint_x=0.25, size_hint_y=1))
        for d in DECIDERS:
            who.add_widget(choice(d, t.decided_by == d, lambda d=d: f.tentative_decided_by(d), height=92))
        self.body.add_widget(who)
        self.body.add_widget(txt("仮投票する選挙" + ("（投票済とされた選挙は選択済み）" if t.voter_id else ""), 24))
        g = GridLayout(cols=3, spacing=8, size_hint_y=None, row_default_height=92, row_force_default=True)
        g.bind(minimum_height=g.setter("height"))
        for cid, name in t.contests:
            g.add_widget(choice(name, cid in t.selected, lambda cid=cid: f.tentative_toggle(cid), height=92,
                                font_size=24))
        self.body.add_widget(g)
        if t.message:
            self.body.add_widget(txt(f"[color=b01010]{t.message}[/color]", 24))
        self.body.add_widget(BoxLayout())
        self.row.add_widget(big("取りやめ", f.leave_tentative, height=110, size_hint_x=0.35,
                                background_color=theme.GREY))
        go = big("仮投票を記録する", f.submit_tentative, height=110, background_color=theme.RED,
                 font_size=theme.TEXT_BIG)
        go.disabled = not t.can_submit
        self.row.add_widget(go)


class DeclareNameView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        top.add_widget(big("取りやめ", f.back, size_hint_x=0.22, background_color=theme.GREY))
        self.text = txt("", 34, size_hint_y=1, halign="center")
        top.add_widget(self.text)
        top.add_widget(big("次へ（生年月日）", f.declare_name_done, size_hint_x=0.34, background_color=theme.GREEN))
        self.box.add_widget(top)  # (no line of help above: the six rows of keys need the height)
        self.box.add_widget(keypad(NAME_KEYPAD, f.declare_kana, 10))

    def update(self) -> None:
        self.text.text = self.flow.declare.name_text


class DeclareBirthView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        top.add_widget(big("戻る", f.back, size_hint_x=0.18, background_color=theme.GREY))
        self.text = txt("", 34, size_hint_y=1, halign="center")
        top.add_widget(self.text)
        top.add_widget(big("次へ", f.declare_done, size_hint_x=0.18, background_color=theme.GREEN))
        top.add_widget(big("生年月日なしで次へ", lambda: f.declare_done(skip_birth=True), size_hint_x=0.3,
                           font_size=24))
        self.box.add_widget(txt("申し立てられた生年月日（分からなければ「生年月日なしで次へ」）", 24))
        self.box.add_widget(top)
        eras = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=8)
        for e in ERA_KEYS:
            eras.add_widget(big(e, lambda e=e: f.declare_era(e)))
        self.box.add_widget(eras)
        self.box.add_widget(keypad(DIGITS + (("次の欄", "0", "クリア"),), self._key, 3))

    def _key(self, k: str) -> None:
        {"次の欄": self.flow.declare_birth_next, "クリア": self.flow.declare_birth_clear}.get(
            k, lambda: self.flow.declare_digit(k))()

    def update(self) -> None:
        d = self.flow.declare
        self.text.text = "生年月日: " + d.birth.text + (f"\n[size=24]{d.message}[/size]" if d.message else "")
