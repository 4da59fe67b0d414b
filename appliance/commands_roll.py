"""Commands of this package (registered into ``meibo`` by appliance.cli). Placeholder until filled."""

from __future__ import annotations

from typing import Any


def register(cli: Any) -> None:
    """Add this package's commands to the ``meibo`` parser."""
