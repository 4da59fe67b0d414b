"""After a restart: the check-in that was recorded but never shown, before anything else."""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.utils import escape_markup

from ui_kivy.presenters.procedures import Panel
from ui_kivy.views import theme
from ui_kivy.views.screens.common import KioskScreen, PanelBox, big, name_markup


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
        it = self.flow.interrupted
        if it is None:
            return self.panel.show(None)
        nb = "\u00a0"  # keep 氏名 and the time on one line
        head, _, tail = it.prompt.partition(it.name)
        # the name as registered; the question on its own line (Kivy breaks a line where the font changes)
        sentence, stop, question = tail.partition("。")
        prompt = escape_markup(head) + name_markup(it.name) + escape_markup(sentence + stop)
        self.panel.show(Panel("amber", "！ 中断された受付があります", (prompt.replace(" ", nb), escape_markup(question),
                                                                   it.detail.replace(" ", nb),
                                                                   "交付していなければ、管理者の PIN で取り消します")),
                        theme.TEXT_BIG, theme.TEXT)
