"""Kivy views of 試験モード: the banner over every kiosk screen, the ゼロ確認 result screen, and the
試験手順 results screen (each step's 期待 / 結果 / 合格・不合格・スキップ, the report PDF's name).

Thin: they read ui_kivy/presenters/rehearsal.py's state. The banner is a red strip laid over
the top of ``KioskRoot`` (one widget above every screen, the overlay included, so no screen can
be drawn without it) with 試験 large at both ends; ``test_banner(flow)`` returns None when the
kiosk runs on the real terminal, and KioskRoot then adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.utils import escape_markup

from ui_kivy.presenters.rehearsal import RehearsalPresenter
from ui_kivy.views import theme
from ui_kivy.views.enroll import Probe
from ui_kivy.views.screens import big, txt
from ui_kivy.views.screens.common import scrolled

BANNER_H = 64


class TestModeBanner(BoxLayout):  # type: ignore[misc]
    __test__ = False  # not a pytest class

    def __init__(self, presenter: RehearsalPresenter, **kw: Any) -> None:
        super().__init__(orientation="horizontal", size_hint=(1, None), height=BANNER_H,
                         pos_hint={"top": 1}, padding=(16, 4), **kw)
        with self.canvas.before:
            Color(*theme.RED)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.add_widget(txt("試験", theme.TEXT_BIG, bold=True, color=theme.WHITE, size_hint_x=0.12))
        self.label = txt(presenter.banner, theme.TEXT, bold=True, color=theme.WHITE, halign="center")
        self.add_widget(self.label)
        self.add_widget(txt("試験", theme.TEXT_BIG, bold=True, color=theme.WHITE, size_hint_x=0.12))


def test_banner(flow: Any) -> TestModeBanner | None:
    """The banner for ``flow`` when its kiosk runs on the test area (``flow.rehearsal`` active)."""
    p = getattr(flow, "rehearsal", None)
    return TestModeBanner(p) if isinstance(p, RehearsalPresenter) and p.active else None


test_banner.__test__ = False  # type: ignore[attr-defined]  # not a pytest function


class ProofPendingRoot(Probe, BoxLayout):  # type: ignore[misc]
    """While leaving test mode: the test kiosk is closed, HQ is asked for its versions."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=32, **kw)
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.add_widget(txt("ゼロ確認中です。本部に名簿・選挙の版を確認しています…", theme.TEXT_BIG, halign="center"))

    def close(self) -> None:
        pass


class ZeroProofRoot(Probe, BoxLayout):  # type: ignore[misc]
    """ゼロ確認: shown once test mode ended (the test area destroyed); one button back to 本番."""

    def __init__(self, presenter: RehearsalPresenter, on_done: Callable[[], None], **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=32, spacing=12, **kw)
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        proof = presenter.proof
        if proof is None:  # finishing was refused: test mode stays, and the reason is shown
            self.add_widget(txt("試験モードを終了できませんでした", theme.TEXT_BIG, bold=True, color=theme.RED))
            self.add_widget(txt(presenter.message, theme.TEXT, color=theme.RED))
        else:
            color = theme.GREEN if proof.ok else theme.RED
            self.add_widget(txt(proof.title, theme.TEXT_BIG, bold=True, color=color))
            self.add_widget(txt("試験のデータを消去しました。" + ("本番の受付記録は空です。" if proof.ok else ""), theme.TEXT))
            for line in proof.lines:
                self.add_widget(txt(line.text, theme.TEXT, color=theme.RED if line.result == "FAIL" else theme.INK))
            if proof.pdf:
                self.add_widget(txt(f"ゼロ確認書（PDF）: {escape_markup(proof.pdf)}", theme.TEXT, color=theme.INK))
        self.add_widget(BoxLayout())
        self.add_widget(big("受付画面へ", on_done, background_color=theme.BLUE))

    def close(self) -> None:
        pass


class RunPendingRoot(Probe, BoxLayout):  # type: ignore[misc]
    """While 試験手順を実行 runs (in a worker thread): the kiosk is closed, the steps take a moment."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=32, **kw)
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.add_widget(txt("【試験】試験手順を実行しています…（本部への送信を含みます）", theme.TEXT_BIG, halign="center"))

    def close(self) -> None:
        pass


class RunResultRoot(Probe, BoxLayout):  # type: ignore[misc]
    """The 試験手順 results: per step its name and 合格/不合格/スキップ (a mark and a word, not only a
    colour), 期待 and 結果 below; the report PDF named; one button back to the (test) kiosk."""

    def __init__(self, presenter: RehearsalPresenter, on_done: Callable[[], None], **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=24, spacing=8, **kw)
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.add_widget(txt("試験", theme.TEXT_BIG, bold=True, color=theme.RED))
        rep = presenter.report
        if rep is None:  # the steps could not run: the reason is shown
            self.add_widget(txt("試験手順を実行できませんでした", theme.TEXT_BIG, bold=True, color=theme.RED))
            self.add_widget(txt(escape_markup(presenter.message), theme.TEXT, color=theme.RED))
        else:
            self.add_widget(txt(rep.title, theme.TEXT_BIG, bold=True, color=theme.GREEN if rep.ok else theme.RED))
            box = BoxLayout(orientation="vertical", spacing=2)
            for s in rep.steps:
                box.add_widget(txt(s.text, theme.TEXT, bold=True, color=theme.RED if s.result == "FAIL" else theme.INK))
                box.add_widget(txt(f"　期待: {escape_markup(s.expected)}", 22, color=theme.INK))
                box.add_widget(txt(f"　結果: {escape_markup(s.seen)}", 22, color=theme.INK))
            self.add_widget(scrolled(box))
            if rep.pdf:
                self.add_widget(txt(f"報告書（PDF）: {escape_markup(rep.pdf)}", theme.TEXT, color=theme.INK))
        self.add_widget(big("試験の受付画面へ", on_done, background_color=theme.BLUE))

    def close(self) -> None:
        pass


__all__ = ["RunPendingRoot", "RunResultRoot", "TestModeBanner", "test_banner", "ProofPendingRoot", "ZeroProofRoot", "BANNER_H"]
