"""What every command module builds on: ``Cli`` (the parser being assembled), ``Outcome`` (what a
command answers) and ``emit`` (how an answer is printed).

Command modules import from here, never from ``cli/main.py``: main imports them (to call their
``register(cli)``), so the wiring goes one way. This module imports nothing of ours.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Outcome:
    """What a command answers: ``data`` for --json (must hold ``code``), ``text`` for people."""

    data: dict[str, Any]
    text: str
    exit_status: int = 0


Handler = Callable[[argparse.Namespace], Outcome]


@dataclass
class Cli:
    parser: argparse.ArgumentParser
    top: Any  # the top-level subparsers action
    groups: dict[str, Any] = field(default_factory=dict)

    def group(self, name: str, help: str) -> Any:
        """Subparsers of ``meibo NAME`` (hq, roll, terminal, provision, hardware)."""
        if name not in self.groups:
            p = self.top.add_parser(name, help=help)
            self.groups[name] = p.add_subparsers(dest="sub", metavar="COMMAND", required=True)
        return self.groups[name]

    def command(self, group: str | None, name: str, func: Handler, help: str) -> argparse.ArgumentParser:
        subs = self.top if group is None else self.groups[group]
        p: argparse.ArgumentParser = subs.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=func)
        return p


def emit(args: argparse.Namespace, out: Outcome) -> int:
    if getattr(args, "json", False):
        print(json.dumps(out.data, ensure_ascii=False, indent=None, default=str))
    elif out.text:
        print(out.text)
    return out.exit_status
