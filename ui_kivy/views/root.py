"""The kiosk's root widget: status bar, notice bar, the screens, and the late-alert overlay."""

from __future__ import annotations

from typing import Any, Iterator

from kivy.factory import Factory
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.uix.widget import Widget

from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.views import screens, theme
from ui_kivy.views.rehearsal import BANNER_H, test_banner
from ui_kivy.views.widgets import AlertOverlay, Banner, NoticeBar, StatusBar

VIEWS: dict[Screen, type[screens.KioskScreen]] = {
    Screen.IDLE: screens.IdleView, Screen.KANA: screens.KanaView, Screen.RESULTS: screens.ResultsView,
    Screen.BIRTH: screens.BirthView, Screen.CONFIRM: screens.ConfirmView, Screen.CHECKING: screens.CheckingView,
    Screen.RESULT: screens.ResultView, Screen.PIN: screens.PinView, Screen.MENU: screens.MenuView,
    Screen.VOID: screens.VoidView, Screen.COUNTS: screens.CountsView,
    Screen.TENTATIVE: screens.TentativeView, Screen.OPENING: screens.OpeningView,
    Screen.CLOSING: screens.ClosingView, Screen.CLOSE_ENTRY: screens.CloseEntryView,
    Screen.REPORT: screens.ReportView, Screen.ZAIGAI_ID: screens.ZaigaiIdView,
    Screen.ZAIGAI_CONFIRM: screens.ZaigaiConfirmView, Screen.DECLARE_NAME: screens.DeclareNameView,
    Screen.DECLARE_BIRTH: screens.DeclareBirthView, Screen.INTERRUPTED: screens.InterruptedView,
}


class KioskRoot(FloatLayout):  # type: ignore[misc]
    def __init__(self, flow: KioskFlow, **kw: Any) -> None:
        super().__init__(**kw)
        for cls in (StatusBar, NoticeBar, Banner, AlertOverlay):
            Factory.register(cls.__name__, cls=cls) if cls.__name__ not in Factory.classes else None
        self.flow = flow
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        col = BoxLayout(orientation="vertical")
        self.status = StatusBar()
        self.notice = NoticeBar()
        self.manager = ScreenManager(transition=NoTransition())
        self.views: dict[Screen, screens.KioskScreen] = {}
        for s, cls in VIEWS.items():
            v = cls(flow, name=s.value)
            self.views[s] = v
            self.manager.add_widget(v)
        col.add_widget(self.status)
        col.add_widget(self.notice)
        col.add_widget(self.manager)
        self.add_widget(col)
        self.test_banner = test_banner(flow)  # 試験モード: a red strip over every screen (views/rehearsal.py)
        if self.test_banner is not None:
            col.padding = (0, BANNER_H, 0, 0)
            self.add_widget(self.test_banner)
        self.overlay: AlertOverlay | None = None
        self._shown_pending = False
        self._unsubscribe = flow.subscribe(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        f = self.flow
        self.status.show(f.status)
        self.notice.text = f.notice.text if f.notice else ""
        self.notice.level = f.notice.level if f.notice else "info"
        view = self.views[f.screen]
        view.update()
        if self.manager.current != f.screen.value:
            self.manager.current = f.screen.value
        a = f.alert
        if a is not None and self.overlay is None:
            self.overlay = AlertOverlay(flow=f)
            self.add_widget(self.overlay)
            if self.test_banner is not None:  # the banner stays above the overlay too
                self.remove_widget(self.test_banner)
                self.add_widget(self.test_banner)
        if a is None and self.overlay is not None:
            self.remove_widget(self.overlay)
            self.overlay = None
        if a is not None and self.overlay is not None:
            self.overlay.title, self.overlay.body = a.title, a.body
        if f.unshown_seq is not None and not self._shown_pending:
            # mark the result shown only once a frame with it has reached the panel (after the flip)
            self._shown_pending = True
            from kivy.core.window import Window

            def shown(*_: Any) -> None:
                Window.funbind("on_flip", shown)
                self._shown_pending = False
                f.result_shown()

            Window.fbind("on_flip", shown)

    def close(self) -> None:
        self._unsubscribe()

    # -- for tests and screenshots: what the screen shows -------------------------------------
    def _walk(self, w: Widget) -> Iterator[Widget]:
        yield w
        for c in w.children:
            yield from self._walk(c)

    def shown(self) -> list[Widget]:
        parts: list[Widget] = [self.status, self.notice, self.manager.current_screen]
        if self.overlay is not None:
            parts.append(self.overlay)
        if self.test_banner is not None:
            parts.append(self.test_banner)
        return [w for p in parts for w in self._walk(p)]

    def texts(self) -> list[str]:
        return [w.text for w in self.shown() if isinstance(w, Label) and w.text]

    def button(self, text: str) -> Any:
        """The shown button whose text contains ``text`` (exactly one)."""
        hits = [w for w in self.shown() if isinstance(w, Factory.Button) and text in w.text and not w.disabled]
        if len(hits) != 1:
            raise LookupError(f"{len(hits)} buttons with {text!r}: {[h.text for h in hits]}")
        return hits[0]

    def press(self, text: str) -> None:
        self.button(text).dispatch("on_release")

    @property
    def banner(self) -> Banner:
        return self.views[Screen.RESULT].banner  # type: ignore[no-any-return]
