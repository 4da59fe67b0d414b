"""Presenters: the kiosk's view state and intents in plain Python (never imports Kivy).

``app_flow.KioskFlow`` is the one object a view talks to: the router of flows/router.py with one
presenter per flow (flows/lookup.py, checkin.py, tentative.py, supervisor.py, closing.py, zaigai.py,
interrupted.py, status.py) wired in. The other modules here build the frozen state of each screen
from the service's answers. Tests drive them without a window.
"""
