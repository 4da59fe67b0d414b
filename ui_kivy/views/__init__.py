"""Kivy views: thin widgets that show a ``KioskFlow``'s state and call its intents (no rules here)."""
