"""Kivy views of the HQ console: thin widgets that draw what ``ConsolePresenter`` computes and
forward taps to its intents. No decisions here (they are in presenter.py, tested without a
window). Importing this module registers a Japanese font as Kivy's default.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.graphics import Color, Line, Rectangle
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import ColorProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from ui_kivy.console.font import cjk_font_path
from ui_kivy.console.presenter import ConsolePresenter, Tab
from ui_kivy.fonts import NAME_FONT, find_name_font

LabelBase.register(DEFAULT_FONT, str(cjk_font_path()))
LabelBase.register(NAME_FONT, str(find_name_font()))  # IPAmj明朝: names with IVS as registered
Builder.load_file(str(Path(__file__).with_name("hq_console.kv")))

INK = (0.12, 0.13, 0.16, 1)
SEVERITY_BG = {"open": (1.0, 0.88, 0.86, 1), "investigating": (1.0, 0.95, 0.80, 1),
               "resolved": (0.88, 0.95, 0.88, 1), "cleared": (0.92, 0.92, 0.93, 1),
               "ok": (0.90, 0.97, 0.90, 1), "warn": (1.0, 0.95, 0.82, 1), "bad": (1.0, 0.85, 0.83, 1),
               "idle": (0.93, 0.93, 0.94, 1)}
PALETTE = [(0.17, 0.35, 0.62, 1), (0.85, 0.45, 0.10, 1), (0.20, 0.60, 0.35, 1), (0.60, 0.25, 0.60, 1),
           (0.55, 0.55, 0.15, 1), (0.15, 0.60, 0.65, 1)]


def run_soon(coro: Any) -> None:
    asyncio.ensure_future(coro)


def label(text: str, **kw: Any) -> Label:
    lb = Label(text=text, color=kw.pop("color", INK), font_size=kw.pop("font_size", "14sp"), halign="left",
               valign="middle", size_hint_y=None, **kw)
    lb.bind(width=lambda w, v: setattr(w, "text_size", (v - dp(4), None)))
    lb.bind(texture_size=lambda w, v: setattr(w, "height", max(v[1] + dp(6), dp(24))))
    return lb


def button(text: str, on: Any, **kw: Any) -> Button:
    b = Button(text=text, font_size="14sp", size_hint_y=None, height=kw.pop("height", dp(34)), background_normal="",
               background_color=kw.pop("bg", (0.17, 0.35, 0.62, 1)), **kw)
    b.bind(on_release=lambda *_: on())
    return b


class Panel(BoxLayout):
    bg = ColorProperty((1, 1, 1, 1))


class AlertsPane(BoxLayout):
    def __init__(self, p: ConsolePresenter, **kw: Any) -> None:
        super().__init__(**kw)
        self.p = p
        self.ids.operator.bind(text=lambda _, v: p.set_operator(v))
        self.ids.note.bind(text=lambda _, v: p.set_note(v))

    def refresh(self) -> None:
        p = self.p
        if self.ids.note.text != p.note:  # the note is cleared after a recorded step
            self.ids.note.text = p.note
        box = self.ids.cards
        box.clear_widgets()
        for title, lines in (("本部の記録が巻き戻っています", p.rollback_lines()), ("端末複製の警報", p.alarm_lines()),
                             ("受け付けなかった記録（投票済として数えていません）", p.refusal_lines())):
            if lines:
                pan = Panel(bg=SEVERITY_BG["bad"])
                pan.add_widget(label(title, font_size="16sp", bold=True))
                for line in lines:
                    pan.add_widget(label(line))
                box.add_widget(pan)
        cards = p.alert_cards()
        if not cards:
            box.add_widget(label("二重投票の警告はありません", font_size="16sp"))
        for c in cards:
            pan = Panel(bg=SEVERITY_BG[c.severity])
            head = BoxLayout(size_hint_y=None, height=dp(30))
            head.add_widget(label(c.title, font_size="16sp", bold=True))
            head.add_widget(label(f"状態: {c.state_label}", size_hint_x=0.35))
            pan.add_widget(head)
            sides = BoxLayout(size_hint_y=None, spacing=dp(8))
            for i, s in enumerate(c.sides, 1):
                col = Panel(bg=(1, 1, 1, 0.85))
                col.add_widget(label(f"{i}. {s.station}", bold=True))
                col.add_widget(label(s.terminal))
                col.add_widget(label(s.clerk))
                col.add_widget(label(s.time))
                col.add_widget(label(s.mode, color=(0.65, 0.2, 0.1, 1) if s.provisional else (0.1, 0.4, 0.2, 1)))
                sides.add_widget(col)
            sides.bind(minimum_height=sides.setter("height"))
            sides.height = dp(150)
            pan.add_widget(sides)
            for h in c.history:
                pan.add_widget(label("・" + h, font_size="13sp"))
            row = BoxLayout(size_hint_y=None, height=dp(36), spacing=dp(6))
            for b in c.buttons:
                row.add_widget(button(b.label, lambda aid=c.alert_id, st=b.state: run_soon(p.move_alert(aid, st)),
                                      disabled=not b.enabled or p.busy))
            pan.add_widget(row)
            box.add_widget(pan)
        counts = p.count_lines()
        if counts:
            pan = Panel(bg=(1, 1, 1, 1))
            pan.add_widget(label("名簿対照数と交付数（各投票所・選挙の最新の時刻）", font_size="16sp", bold=True))
            for text, flagged in counts:
                pan.add_widget(label(text, color=(0.75, 0.1, 0.1, 1) if flagged else INK))
            box.add_widget(pan)


class StationsPane(BoxLayout):
    HEAD = ("投票所", "種別", "端末", "状態", "最終通信", "結果待ち", "本日受付", "電波", "通信事業者")

    def __init__(self, p: ConsolePresenter, **kw: Any) -> None:
        super().__init__(**kw)
        self.p = p

    def refresh(self) -> None:
        g = self.ids.grid
        g.clear_widgets()
        for h in self.HEAD:
            g.add_widget(self._cell(h, (0.80, 0.84, 0.90, 1), bold=True))
        for s in self.p.station_lines():
            bg = SEVERITY_BG[s.severity]
            status = s.status + (f"（{s.note}）" if s.note else "")
            for v in (s.station, s.kind, s.terminal, status, s.last_contact, s.pending, s.today, s.signal, s.carrier):
                g.add_widget(self._cell(v, bg))

    @staticmethod
    def _cell(text: str, bg: Any, bold: bool = False) -> Label:
        lb = Label(text=text, color=INK, font_size="13sp", bold=bold, size_hint_y=None, height=dp(30),
                   halign="left", valign="middle", shorten=True, shorten_from="right")
        lb.bind(size=lambda w, v: setattr(w, "text_size", (v[0] - dp(6), v[1])))
        with lb.canvas.before:
            Color(*bg)
            r = Rectangle(pos=lb.pos, size=lb.size)
        lb.bind(pos=lambda w, v: setattr(r, "pos", v), size=lambda w, v: setattr(r, "size", v))
        return lb


class BarChart(Widget):
    """Grouped bars: one group per hour, one bar per station."""

    series = ListProperty([])  # [(label, [values])]
    max_value = NumericProperty(1)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.bind(pos=self.redraw, size=self.redraw, series=self.redraw, max_value=self.redraw)

    def redraw(self, *_: Any) -> None:
        self.canvas.clear()
        n_hours = max((len(v) for _, v in self.series), default=0)
        if not n_hours:
            return
        with self.canvas:
            Color(0.75, 0.77, 0.80, 1)
            Line(points=[self.x, self.y, self.right, self.y], width=1)
            gw = self.width / n_hours
            k = max(1, len(self.series))
            bw = max(1.0, gw * 0.8 / k)
            for si, (_, values) in enumerate(self.series):
                Color(*PALETTE[si % len(PALETTE)])
                for h, v in enumerate(values):
                    if v <= 0:
                        continue
                    hgt = (self.height - dp(4)) * v / max(1, self.max_value)
                    Rectangle(pos=(self.x + h * gw + gw * 0.1 + si * bw, self.y + 1), size=(bw - 1, hgt))


class TurnoutPane(BoxLayout):
    def __init__(self, p: ConsolePresenter, **kw: Any) -> None:
        super().__init__(**kw)
        self.p = p

    def refresh(self) -> None:
        ch = self.p.turnout_chart()
        if ch is None:
            return
        self.ids.title.text = f"{ch.day} の時間帯別受付数（最大 {ch.max_value} 人／時）"
        self.ids.chart.max_value = ch.max_value
        self.ids.chart.series = [(s.label, list(s.values)) for s in ch.series]
        hours = self.ids.hours
        hours.clear_widgets()
        for h in ch.hours:
            hours.add_widget(Label(text=h, color=INK, font_size="12sp"))
        legend = self.ids.legend
        legend.clear_widgets()
        for i, s in enumerate(ch.series):
            lb = label("■ " + s.label, color=PALETTE[i % len(PALETTE)])
            legend.add_widget(lb)
        totals = self.ids.totals
        totals.clear_widgets()
        for line in (*ch.kind_totals, ch.total_line):
            totals.add_widget(label(line, font_size="15sp"))


class AgePane(BoxLayout):
    """年齢確認: voters whose 生年月日 不詳 needs an ID check, 未受付 first (name in the name font)."""

    def __init__(self, p: ConsolePresenter, **kw: Any) -> None:
        kw.setdefault("orientation", "vertical")
        kw.setdefault("padding", dp(8))
        kw.setdefault("spacing", dp(4))
        super().__init__(**kw)
        self.p = p
        self.summary = label("", font_size="16sp", bold=True)
        self.add_widget(self.summary)
        self.box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(2))
        self.box.bind(minimum_height=self.box.setter("height"))
        sv = ScrollView(do_scroll_x=False)
        sv.add_widget(self.box)
        self.add_widget(sv)

    def refresh(self) -> None:
        self.summary.text = self.p.age_summary()
        self.box.clear_widgets()
        for name, details, done in self.p.age_lines():
            pan = Panel(bg=SEVERITY_BG["ok" if done else "warn"])
            pan.add_widget(label(name, font_size="18sp", font_name=NAME_FONT))
            pan.add_widget(label(details, font_size="14sp"))
            self.box.add_widget(pan)


class ActionsPane(BoxLayout):
    def __init__(self, p: ConsolePresenter, **kw: Any) -> None:
        super().__init__(**kw)
        self.p = p

    def refresh(self) -> None:
        self.ids.terminals.text = "有効な端末: " + ("、".join(self.p.terminals()) or "なし")

    def on_revoke(self) -> None:
        self.p.request_revoke(self.ids.revoke_terminal.text, self.ids.revoke_reason.text)

    def on_absentee(self) -> None:
        cs = [c.strip() for c in self.ids.absentee_contests.text.split(",") if c.strip()]
        self.p.request_absentee(self.ids.absentee_voter.text, cs or None)

    def on_publish(self, full: bool) -> None:
        self.p.request_publish(full)


class ConfirmView(ModalView):
    title = StringProperty("")
    body = StringProperty("")

    def __init__(self, p: ConsolePresenter, **kw: Any) -> None:
        super().__init__(**kw)
        self.p = p

    def on_ok(self) -> None:
        self.dismiss()
        run_soon(self.p.confirm())

    def on_cancel(self) -> None:
        self.dismiss()
        self.p.cancel()


class ConsoleRoot(BoxLayout):
    def __init__(self, p: ConsolePresenter, **kw: Any) -> None:
        super().__init__(**kw)
        self.p = p
        self.panes: dict[Tab, Any] = {Tab.ALERTS: AlertsPane(p), Tab.STATIONS: StationsPane(p),
                                      Tab.TURNOUT: TurnoutPane(p), Tab.AGE: AgePane(p), Tab.ACTIONS: ActionsPane(p)}
        self.confirm_view: ConfirmView | None = None
        self.shown: Tab | None = None
        p.subscribe(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        p = self.p
        self.ids.header.text = p.header()
        tabs = self.ids.tabs
        tabs.clear_widgets()
        for t, text in p.tab_labels():
            active = t is p.tab
            alert = t is Tab.ALERTS and "（" in text
            bg = (0.10, 0.20, 0.36, 1) if active else ((0.75, 0.20, 0.15, 1) if alert else (0.55, 0.60, 0.68, 1))
            tabs.add_widget(button(text, lambda t=t: p.select_tab(t), bg=bg, height=dp(38)))
        msg = p.error or p.message
        self.ids.message.text = msg
        self.ids.message.color = (0.75, 0.1, 0.1, 1) if p.error else (0.1, 0.35, 0.15, 1)
        if self.shown is not p.tab:
            self.ids.body.clear_widgets()
            self.ids.body.add_widget(self.panes[p.tab])
            self.shown = p.tab
        self.panes[p.tab].refresh()
        if p.confirmation is not None and self.confirm_view is None:
            cv = ConfirmView(p, title=p.confirmation.title, body=p.confirmation.body)
            cv.bind(on_dismiss=lambda *_: setattr(self, "confirm_view", None))
            self.confirm_view = cv
            cv.open()

    def texts(self) -> list[str]:
        """Every text on screen now (for rendered tests)."""
        out: list[str] = []

        def walk(w: Widget) -> None:
            t = getattr(w, "text", None)
            if isinstance(t, str) and t:
                out.append(t)
            for c in w.children:
                walk(c)
        walk(self)
        if self.confirm_view is not None:
            walk(self.confirm_view)
        return out
