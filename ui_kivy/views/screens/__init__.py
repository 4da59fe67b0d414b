"""The kiosk's screens, one module per flow, mirroring the presenters. Each ``update()`` copies
presenter state into widgets; each button calls one intent on the flow. Lists (keypads, results,
ballots) are rebuilt from the state on update.

The names are re-exported here so ``from ui_kivy.views.screens import X`` keeps working.
"""

from ui_kivy.views.screens.checkin import CheckingView, ConfirmView, ResultView
from ui_kivy.views.screens.closing import CloseEntryView, ClosingView
from ui_kivy.views.screens.common import (DIGITS, PANEL_BG, PANEL_INK, UNLISTED, Intent, KioskScreen, PanelBox,
                                          big, choice, digit_pad, field, keypad, scrolled, scrolled_panel, txt)
from ui_kivy.views.screens.interrupted import InterruptedView
from ui_kivy.views.screens.lookup import BirthView, IdleView, KanaView, ResultsView
from ui_kivy.views.screens.supervisor import CountsView, MenuView, OpeningView, PinView, ReportView, VoidView
from ui_kivy.views.screens.tentative import DeclareBirthView, DeclareNameView, TentativeView
from ui_kivy.views.screens.zaigai import ZaigaiConfirmView, ZaigaiIdView

__all__ = [
    "DIGITS", "PANEL_BG", "PANEL_INK", "UNLISTED", "Intent", "KioskScreen", "PanelBox",
    "big", "choice", "digit_pad", "field", "keypad", "scrolled", "scrolled_panel", "txt",
    "IdleView", "KanaView", "ResultsView", "BirthView",
    "ConfirmView", "CheckingView", "ResultView",
    "TentativeView", "DeclareNameView", "DeclareBirthView",
    "PinView", "MenuView", "OpeningView", "VoidView", "CountsView", "ReportView",
    "ClosingView", "CloseEntryView",
    "ZaigaiIdView", "ZaigaiConfirmView",
    "InterruptedView",
]
