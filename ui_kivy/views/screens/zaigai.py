"""The 在外選挙人 flow's screens: the 在外選挙人番号 entry and the confirm screen with the card number."""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from ui_kivy.presenters.zaigai import LETTERS
from ui_kivy.views import theme
from ui_kivy.views.screens.common import KioskScreen, big, choice, digit_pad, field, keypad, name_markup, txt


class ZaigaiIdView(KioskScreen):
    def build(self) -> None:
        f = self.flow
        self.box.add_widget(txt("在外選挙人（国政選挙のみ）: 在外選挙人証の「在外選挙人番号」を入力してください", 26))
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        top.add_widget(big("戻る", f.back, size_hint_x=0.25, background_color=theme.GREY))
        self.text = txt("", theme.TEXT_BIG, size_hint_y=1, halign="center")
        top.add_widget(self.text)
        self.go = big("検索", f.zaigai_lookup, size_hint_x=0.3, background_color=theme.GREEN, font_size=theme.TEXT_BIG)
        top.add_widget(self.go)
        self.box.add_widget(top)
        self.msg = txt("", 26, halign="center", color=theme.RED)
        self.box.add_widget(self.msg)
        row = BoxLayout()
        row.add_widget(BoxLayout(size_hint_x=0.25))
        row.add_widget(digit_pad(f.zaigai_digit, f.zaigai_backspace))
        row.add_widget(BoxLayout(size_hint_x=0.25))
        self.box.add_widget(row)

    def update(self) -> None:
        z = self.flow.zaigai
        self.text.text = z.id_text
        self.msg.text = z.message
        self.go.disabled = not z.can_lookup


class ZaigaiConfirmView(KioskScreen):
    """The 在外選挙人 (氏名, カナ, 和暦, 居住国), the 宣誓書事由 at early stations, and the card number pad
    (英字 swaps the screen's upper part for A–Z keys, full width so each key stays ≥ 90 px). 代理投票 and
    点字投票 sit in the bottom row as on the confirm screen (chosen: blue with a ●, not colour alone)."""

    def build(self) -> None:
        f = self.flow
        self.cols = BoxLayout(spacing=20)
        self.left = BoxLayout(orientation="vertical", spacing=4)
        right = BoxLayout(orientation="vertical", spacing=8, size_hint_x=0.62)
        self.cols.add_widget(self.left)
        self.cols.add_widget(right)
        self.card = txt("", 30, halign="center")
        right.add_widget(self.card)
        right.add_widget(digit_pad(f.zaigai_digit, f.zaigai_backspace, "英字", f.zaigai_letters))
        self.alpha = BoxLayout(orientation="vertical", spacing=8)
        self.alpha_card = txt("", theme.TEXT_BIG, halign="center")
        self.alpha.add_widget(self.alpha_card)
        keys = LETTERS[:2] + (LETTERS[2] + ("", "", "数字", "削除"),)

        def key(k: str) -> None:
            {"数字": f.zaigai_letters, "削除": f.zaigai_backspace}.get(k, lambda: f.zaigai_digit(k))()

        self.alpha.add_widget(keypad(keys, key, 10))
        self.box.add_widget(self.cols)
        self.row = BoxLayout(size_hint_y=None, height=104, spacing=12)
        self.row.add_widget(big("戻る", f.back, height=104, size_hint_x=0.4, background_color=theme.GREY))
        self.proxy = big("代理投票", f.toggle_proxy, height=104, size_hint_x=0.6, font_size=26)
        self.braille = big("点字投票", f.toggle_braille, height=104, size_hint_x=0.6, font_size=26)
        self.ok = big("受付", lambda: self.run(self.flow.zaigai_checkin()), height=104, background_color=theme.GREEN,
                      font_size=theme.TEXT_BIG)
        for w in (self.proxy, self.braille, self.ok):
            self.row.add_widget(w)
        self.box.add_widget(self.row)

    def update(self) -> None:
        f = self.flow
        z = f.zaigai
        top = self.alpha if z.letters else self.cols
        if top.parent is None:
            self.box.clear_widgets()
            self.box.add_widget(top)
            self.box.add_widget(self.row)
        self.left.clear_widgets()
        self.card.text = self.alpha_card.text = z.card_text
        m = f.marks
        self.proxy.text = ("● " if m.proxy else "") + "代理投票"
        self.braille.text = ("● " if m.braille else "") + "点字投票"
        for b, on in ((self.proxy, m.proxy), (self.braille, m.braille)):
            b.background_color = theme.BLUE if on else theme.GREY
        if z.card is None:
            return
        self.left.add_widget(txt("在外選挙人（国政選挙のみ）", 24, color=theme.GREY))
        for label, value in z.details():
            size = theme.TEXT_BIG if label == "氏名" else 26
            self.left.add_widget(field(label, f"[b]{name_markup(value)}[/b]" if label == "氏名" else value, size))
        if z.message:
            self.left.add_widget(txt(f"[color=b01010]{z.message}[/color]", 24))
        if m.oath_required:
            g = GridLayout(cols=2, spacing=6, size_hint_y=None, row_default_height=90, row_force_default=True)
            g.bind(minimum_height=g.setter("height"))
            for code, label in m.choices:
                g.add_widget(choice(label, m.oath == code, lambda code=code: f.choose_oath(code), height=90,
                                    font_size=24))
            self.left.add_widget(g)
        self.left.add_widget(BoxLayout())
        self.ok.disabled = not f.can_zaigai_checkin
        self.ok.text = "受付" if f.can_zaigai_checkin else (
            "受付（事由を選ぶ）" if z.can_checkin else "受付（証の番号を入力）")
