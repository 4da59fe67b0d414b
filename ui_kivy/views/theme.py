"""Colours and sizes of the kiosk (no Kivy import). Touch targets ≥ 15 mm: about 90 px on a
10-inch 1280×800 panel (≈ 6 px/mm); text ≥ 24 px."""

from __future__ import annotations

RGBA = tuple[float, float, float, float]

BG: RGBA = (0.96, 0.96, 0.94, 1)
INK: RGBA = (0.08, 0.08, 0.10, 1)
WHITE: RGBA = (1, 1, 1, 1)
GREEN: RGBA = (0.05, 0.50, 0.20, 1)
RED: RGBA = (0.75, 0.08, 0.08, 1)
AMBER: RGBA = (0.98, 0.68, 0.05, 1)
BLUE: RGBA = (0.13, 0.30, 0.58, 1)
GREY: RGBA = (0.40, 0.42, 0.45, 1)
BAR: RGBA = (0.15, 0.17, 0.20, 1)
PALE_GREEN: RGBA = (0.86, 0.95, 0.88, 1)
PALE_RED: RGBA = (0.99, 0.87, 0.87, 1)

BANNER = {"green": (GREEN, WHITE), "red": (RED, WHITE), "amber": (AMBER, INK)}

TOUCH = 96  # px, ≥ 15 mm
TEXT = 28  # px, body text (≥ 24)
TEXT_BIG = 40
TEXT_HUGE = 56
STATUS_H = 56
