"""The kiosk's flows: one presenter per flow, each in its own module, and the router they share.

``router.Router`` holds which screen is up (the transition table), the notice line and the
listeners; each presenter holds the frozen state of its own screens and the intents a view calls.
Views in ui_kivy/views/screens/ are split by the same names: lookup, checkin, tentative,
supervisor, closing, zaigai, interrupted, status. ``ui_kivy.presenters.app_flow.KioskFlow`` wires
them together and keeps the one facade the views talk to. Never imports Kivy.
"""
