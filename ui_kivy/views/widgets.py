"""Small Kivy widgets whose look lives in kiosk.kv; they only hold properties."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from ui_kivy.views import theme


class StatusBar(BoxLayout):  # type: ignore[misc]
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
