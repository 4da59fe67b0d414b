"""Small Kivy widgets whose look lives in kiosk.kv; they hold properties, and the status bar also
fits its items to the window (StatusBar.fit).

Imports Kivy and ui_kivy.views.theme only. The fitting is hand-written because Kivy's BoxLayout
shares width by size hints, not by text length: with long texts (an IPv6 HQ address, オフライン,
未送信 9999 件) the labels' texts spilled over each other and the clock ran off the right edge.
"""

from __future__ import annotations

from typing import Any

from kivy.core.text import Label as CoreLabel
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from ui_kivy.views import theme


# The items that are never shortened (a figure cut short would be wrong, not just short), and the
# order in which the others give way when the bar is too narrow: the LTE text first, the HQ link last.
_WHOLE = ("clock", "pending", "last_sync")
_GIVE_WAY = ("signal", "hq_node", "link")
_MIN_SHORT = 60  # a shortened item still shows a few characters and its …


def text_width(text: str, font_size: float, font_name: str) -> int:
    """The width ``text`` takes drawn in that font (what the label's texture will be)."""
    if not text:
        return 0
    return int(CoreLabel(font_size=font_size, font_name=font_name).get_extents(text)[0]) + 2


def fit_widths(natural: dict[str, int], room: int, least: dict[str, int] | None = None) -> dict[str, int]:
    """Widths for the bar's items within ``room`` px: the _WHOLE ones as wide as their text; the
    others their text's width too while it fits, else cut in _GIVE_WAY order down to ``least``
    (default _MIN_SHORT), and the last ones further if that is still too wide."""
    widths = dict(natural)
    least = least or {}
    over = sum(widths.values()) - room
    for name in _GIVE_WAY:
        if over <= 0:
            break
        cut = min(over, max(0, widths.get(name, 0) - least.get(name, _MIN_SHORT)))
        widths[name] = widths.get(name, 0) - cut
        over -= cut
    for name in _GIVE_WAY:
        if over <= 0:
            break
        cut = min(over, widths.get(name, 0))
        widths[name] = widths.get(name, 0) - cut
        over -= cut
    return widths


class StatusBar(BoxLayout):  # type: ignore[misc]
    """The top bar (ステータスバー): each item as wide as its text, none overlapping another."""

    link_text = StringProperty("")
    link_ok = BooleanProperty(False)
    signal_text = StringProperty("")
    last_sync_text = StringProperty("")
    pending_text = StringProperty("")
    pending_warn = BooleanProperty(False)
    clock_text = StringProperty("")
    node_text = StringProperty("")  # the HQ node the terminal is on (presenters/status.py)

    def show(self, s: Any) -> None:
        self.link_text, self.link_ok = s.link_text, s.link_ok
        self.signal_text = s.signal_text + (f"  {s.scanner_text}" if s.scanner_text else "")
        self.last_sync_text, self.pending_text = s.last_sync_text, s.pending_text
        self.pending_warn, self.clock_text = s.pending_warn, s.clock_text
        self.node_text = s.node_text

    def on_kv_post(self, *_: Any) -> None:
        self.bind(width=self.fit, padding=self.fit, spacing=self.fit)
        for name in (*_WHOLE, *_GIVE_WAY):
            self.ids[name].bind(text=self.fit, font_size=self.fit, font_name=self.fit)
        self.fit()

    def fit(self, *_: Any) -> None:
        items = {n: self.ids[n] for n in (*_WHOLE, *_GIVE_WAY)}
        natural = {n: text_width(w.text, w.font_size, w.font_name) for n, w in items.items()}
        pad_l, _, pad_r, _ = self.padding
        room = int(self.width - pad_l - pad_r - self.spacing * (len(self.children) - 1))
        sig = items["signal"]  # the LTE bars stay whole when the carrier's name gives way
        least = {"signal": text_width(" ".join(sig.text.split(" ")[:2]) + "…", sig.font_size, sig.font_name)}
        for n, w in fit_widths(natural, room, least).items():
            items[n].width = w


class NoticeBar(BoxLayout):  # type: ignore[misc]
    text = StringProperty("")
    level = StringProperty("info")


class Banner(BoxLayout):  # type: ignore[misc]
    title = StringProperty("")
    subtitle = StringProperty("")
    colour = StringProperty("green")
    bg = ListProperty(list(theme.GREEN))
    fg = ListProperty(list(theme.WHITE))

    def on_colour(self, *_: Any) -> None:
        bg, fg = theme.BANNER[self.colour]
        self.bg, self.fg = list(bg), list(fg)


class AlertOverlay(FloatLayout):  # type: ignore[misc]
    title = StringProperty("")
    body = StringProperty("")
    flow = ObjectProperty(None, allownone=True)

    # Modal: a touch outside the alert box must not reach the screen underneath.
    def on_touch_down(self, touch: Any) -> bool:
        super().on_touch_down(touch)
        return True

    def on_touch_move(self, touch: Any) -> bool:
        super().on_touch_move(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        super().on_touch_up(touch)
        return True
