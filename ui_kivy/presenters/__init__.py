"""Presenters: the kiosk's view state and intents in plain Python (never imports Kivy).

``app_flow.KioskFlow`` is the one object a view talks to; the other modules build the frozen
state of each screen from the service's answers. Tests drive them without a window.
"""
