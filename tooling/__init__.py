"""Tooling beside the CLI: the two-day demo election (``demo.py``) and the deterministic fault
simulation (``sim/``). Both drive the real packages; nothing below imports them."""
