"""The kiosk's screens. Each ``update(flow)`` copies presenter state into widgets; each button
calls one intent. Lists (keypads, results, ballots) are rebuilt from the state on update.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.scrollview import ScrollView

from ui_kivy.presenters.app_flow import KioskFlow
from ui_kivy.presenters.search import ERA_KEYS, KEYPAD, NAME_KEYPAD
from ui_kivy.views import theme

Intent = Callable[..., Any]


def txt(text: str = "", size: int = theme.TEXT, **kw: Any) -> Any:
    return Factory.Txt(text=text, font_size=size, **kw)


def big(text: str, on: Intent, **kw: Any) -> Any:
    b = Factory.Big(text=text, **kw)
    b.bind(on_release=lambda *_: on())
    return b


def keypad(keys: tuple[tuple[str, ...], ...], on: Callable[[str], None], cols: int) -> GridLayout:
    g = GridLayout(cols=cols, spacing=6)
    for row in keys:
        for k in row:
            b = Factory.Key(text=k)
            if k:
                b.bind(on_release=lambda _b, k=k: on(k))
            g.add_widget(b)
    return g


DIGITS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"))
UNLISTED = "名簿に見つからない方（仮投票）"


class KioskScreen(Screen):  # type: ignore[misc]
    flow: KioskFlow

    def __init__(self, flow: KioskFlow, **kw: Any) -> None:
        super().__init__(**kw)
        self.flow = flow
        self.box = BoxLayout(orientation="vertical", padding=16, spacing=12)
        self.add_widget(self.box)
        self.build()

    def build(self) -> None:
        ...

    def update(self) -> None:
        ...

    def run(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Future[Any]] = set()


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
            b = Factory.Big(text=f"[size=36][b]{r.name}[/b][/size]  {r.kana}{voted}\n{r.birth}   {r.address}",
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


def _field(label: str, value: str, size: int = theme.TEXT) -> Any:
    return txt(f"[color=555555]{label}[/color]  {value}", size)


class CheckingView(KioskScreen):
    def build(self) -> None:
        self.box.add_widget(txt("本部に確認中… そのままお待ちください", theme.TEXT_BIG, halign="center", size_hint_y=1))


def _scrolled(box: BoxLayout) -> ScrollView:
    box.size_hint_y = None
    box.bind(minimum_height=box.setter("height"))
    sv = ScrollView(do_scroll_x=False, bar_width=14)
    sv.add_widget(box)
    return sv


class ResultView(KioskScreen):
    def build(self) -> None:
        self.banner = Factory.Banner()
        self.box.add_widget(self.banner)
        self.cols = BoxLayout(spacing=24)
        self.hand = BoxLayout(orientation="vertical", spacing=8)
        self.withhold = BoxLayout(orientation="vertical", spacing=6)
        self.hand_sv, self.withhold_sv = _scrolled(self.hand), _scrolled(self.withhold)
        self.box.add_widget(self.cols)
        self.actions = BoxLayout(size_hint_y=None, height=120, spacing=16)
        self.box.add_widget(self.actions)

    def update(self) -> None:
        r = self.flow.result
        if r is None:
            return
        self.banner.colour = r.colour
        self.banner.title = r.title
        self.banner.subtitle = f"{r.voter_name} 様 — {r.subtitle}" + (f"（受付 {r.seq}）" if r.seq else "")
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
            b = Factory.Big(text=mark + r.text, background_color=theme.BLUE if r.selected else theme.WHITE,
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


# --- issue 10: procedures ---------------------------------------------------------------------

PANEL_BG = {"green": theme.PALE_GREEN, "red": theme.PALE_RED, "amber": (1.0, 0.93, 0.72, 1)}
PANEL_INK = {"green": "0a6a2a", "red": "b01010", "amber": "6a4a00"}


class PanelBox(BoxLayout):  # type: ignore[misc]
    """A coloured box with a title (icon word first) and lines: colour is never the only signal."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("orientation", "vertical")
        kw.setdefault("padding", (14, 8))
        kw.setdefault("spacing", 2)
        kw.setdefault("size_hint_y", None)
        super().__init__(**kw)
        from kivy.graphics import Color, Rectangle

        self.bind(minimum_height=self.setter("height"))
        with self.canvas.before:
            self._c = Color(*theme.BG)
            self._r = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._r, "pos", self.pos),
                  size=lambda *_: setattr(self._r, "size", self.size))

    def show(self, panel: Any | None, title_size: int = theme.TEXT, line_size: int = 24) -> None:
        self.clear_widgets()
        if panel is None:
            self.opacity = 0
            self.padding = (0, 0)
            self.height = 0
            self._c.rgba = (0, 0, 0, 0)
            return
        self.opacity = 1
        self.padding = (14, 8)
        self._c.rgba = PANEL_BG[panel.colour]
        ink = PANEL_INK[panel.colour]
        self.add_widget(txt(f"[b][color={ink}]{panel.title}[/color][/b]", title_size))
        for line in panel.lines:
            self.add_widget(txt(line.strip(), line_size))


def choice(text: str, chosen: bool, on: Intent, **kw: Any) -> Any:
    """A large choice button: the chosen one is blue with a ● (not colour alone)."""
    kw.setdefault("font_size", 26)
    return big(("● " if chosen else "") + text, on, background_color=theme.BLUE if chosen else theme.WHITE,
               color=theme.WHITE if chosen else theme.INK, **kw)


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
        small = m.oath_required or self.flow.absentee is not None
        if not small:
            self.col_l.add_widget(txt("本人確認", 24, color=theme.GREY))
        self.col_l.add_widget(txt(f"[b]{c.name}[/b]", theme.TEXT_BIG if small else theme.TEXT_HUGE))
        self.col_l.add_widget(txt(c.kana, theme.TEXT if small else theme.TEXT_BIG))
        if small:  # room for the 宣誓書 choices and the 不在者 warning: three lines of details
            self.col_l.add_widget(_field("生年月日", c.birth, 24))
            self.col_l.add_widget(_field("住所", c.address, 24))
            self.col_l.add_widget(_field(c.district, f"選挙人番号 {c.voter_id}  {c.status}", 24))
        else:
            for label, value in (("生年月日", c.birth), ("住所", c.address), ("投票区", c.district),
                                 ("選挙人番号", c.voter_id), ("状態", c.status)):
                self.col_l.add_widget(_field(label, value))
        self.col_l.add_widget(BoxLayout())
        self.absentee.show(self.flow.absentee, 24, 24)
        if not small:
            self.col_r.add_widget(txt("この投票所での交付", 24, color=theme.GREY))
        for p in c.lines:
            colour = "0a6a2a" if p.ok else "b01010"
            self.col_r.add_widget(txt(f"[b]{p.name}[/b]  [color={colour}]{p.text}[/color]", 24))
        self.col_r.add_widget(BoxLayout())
        if m.oath_required and c.can_hand:
            for code, label in m.choices:
                self.oaths.add_widget(choice(label, m.oath == code, lambda code=code: self.flow.choose_oath(code),
                                             height=92, font_size=24))
        self.proxy.text = ("● " if m.proxy else "") + "代理投票"
        self.braille.text = ("● " if m.braille else "") + "点字投票"
        for b, on in ((self.proxy, m.proxy), (self.braille, m.braille)):
            b.background_color = theme.BLUE if on else theme.GREY
        self.ok.text = c.button_text if self.flow.can_confirm else "受付（事由を選ぶ）"
        self.ok.disabled = not self.flow.can_confirm
        self.ok.background_color = theme.GREEN if c.can_hand else theme.GREY


class TentativeView(KioskScreen):
    def build(self) -> None:
        from ui_kivy.presenters.procedures import TENTATIVE_TITLE

        self.head = PanelBox()
        self.box.add_widget(self.head)
        self.head_title = TENTATIVE_TITLE
        self.body = BoxLayout(orientation="vertical", spacing=8)
        self.box.add_widget(self.body)
        self.row = BoxLayout(size_hint_y=None, height=104, spacing=16)
        self.box.add_widget(self.row)

    def update(self) -> None:
        from ui_kivy.presenters.procedures import DECIDERS, TENTATIVE_INSTRUCTION, Panel, who_text

        t = self.flow.tentative
        if t is None:
            return
        f = self.flow
        self.body.clear_widgets()
        self.row.clear_widgets()
        if t.done is not None:
            self.head.show(Panel("red", f"✓ 仮投票を記録しました — {TENTATIVE_INSTRUCTION}",
                                 (f"{t.voter_name} 様",)), theme.TEXT_BIG, theme.TEXT)
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


class ClosingView(KioskScreen):
    def build(self) -> None:
        self.panel = PanelBox()
        self.box.add_widget(_scrolled_panel(self.panel))
        self.box.add_widget(big("管理者メニューに戻る", self.flow.back, height=110, background_color=theme.GREY))

    def update(self) -> None:
        self.panel.show(self.flow.closing, theme.TEXT, 26)


def _scrolled_panel(panel: Any) -> ScrollView:
    sv = ScrollView(do_scroll_x=False, bar_width=14)
    sv.add_widget(panel)
    return sv


# --- issue 6 / 10: 在外選挙人, 仮投票 of a person not on the roll, 閉鎖 entry, 報告, interrupted check-in ---

def digit_pad(on_digit: Callable[[str], None], on_back: Callable[[], None], extra: str = "",
              on_extra: Callable[[], None] | None = None) -> GridLayout:
    """1–9, then (extra, 0, 削除): keys of at least 90 px both ways in the layouts below."""
    def key(k: str) -> None:
        if k == "削除":
            on_back()
        elif k == extra and on_extra is not None:
            on_extra()
        else:
            on_digit(k)
    return keypad(DIGITS + ((extra, "0", "削除"),), key, 3)


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
        from ui_kivy.presenters.zaigai import LETTERS

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
            self.left.add_widget(_field(label, f"[b]{value}[/b]" if label == "氏名" else value, size))
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


class CloseEntryView(KioskScreen):
    """閉鎖: 受領数・交付数・残数 per contest (tap a cell, type on the pad), then 閉鎖する."""

    def build(self) -> None:
        f = self.flow
        self.box.add_widget(txt("閉鎖の前に、選挙ごとに受領数・交付数・残数を入力してください（受領数 − 交付数 − 残数 = 0 を確認）", 24))
        body = BoxLayout(spacing=14)
        self.rows = BoxLayout(orientation="vertical", spacing=6)
        body.add_widget(_scrolled(self.rows))
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
        from ui_kivy.presenters.closing import FIELDS

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


class ReportView(KioskScreen):
    def build(self) -> None:
        self.panel = PanelBox()
        self.box.add_widget(_scrolled_panel(self.panel))
        self.box.add_widget(big("管理者メニューに戻る", self.flow.back, height=104, background_color=theme.GREY))

    def update(self) -> None:
        self.panel.show(self.flow.report, theme.TEXT, 26)


class InterruptedView(KioskScreen):
    """Before anything else after a restart: a check-in recorded but never shown."""

    def build(self) -> None:
        f = self.flow
        self.panel = PanelBox()
        self.box.add_widget(self.panel)
        self.box.add_widget(BoxLayout())
        row = BoxLayout(size_hint_y=None, height=130, spacing=20)
        row.add_widget(big("交付した（記録を残す）", f.interrupted_handed, height=130, background_color=theme.GREEN,
                           font_size=theme.TEXT_BIG))
        row.add_widget(big("交付していない（取消・管理者）", f.interrupted_not_handed, height=130,
                           background_color=theme.RED, font_size=theme.TEXT))
        self.box.add_widget(row)

    def update(self) -> None:
        from ui_kivy.presenters.procedures import Panel

        it = self.flow.interrupted
        if it is None:
            return self.panel.show(None)
        nb = "\u00a0"  # keep 氏名 and the time on one line
        self.panel.show(Panel("amber", "！ 中断された受付があります", (it.prompt.replace(" ", nb),
                                                                   it.detail.replace(" ", nb),
                                                                   "交付していなければ、管理者の PIN で取り消します")),
                        theme.TEXT_BIG, theme.TEXT)
