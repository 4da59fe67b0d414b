"""The ``meibo`` command: one entry point, subcommands registered by each package.

Every command prints Japanese for people by default and, with ``--json``, one JSON object with a
stable English ``code``. A refusal (already voted, not eligible, bad input) exits non-zero.
Command modules expose ``register(cli: Cli)`` and add parsers whose ``func(args) -> Outcome``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from ground.errors import MeiboError

# Modules that add commands (imported here by name because each imports Cli and Outcome from
# this module). Each owns its commands; this file only dispatches.
COMMAND_MODULES = [
    "cli.terminal",
    "cli.roll",
    "cli.security",
    "cli.procedures",
    "cli.sync",
    "cli.link",
    "cli.sim",
    "cli.demo",
    "cli.provision",
    "cli.enroll",
    "cli.hardware",
    "cli.kiosk",
    "cli.console",
]


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


GROUP_HELP = {
    "hq": "election HQ (選挙管理委員会事務局)",
    "roll": "voter roll (選挙人名簿) at HQ",
    "terminal": "station terminal (名簿対照端末)",
    "provision": "smart-card enrollment (プロビジョニング)",
    "hardware": "modem, scanner and card reader",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meibo", description="選挙人名簿対照システム meibo")
    top = parser.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    cli = Cli(parser, top)
    for g, h in GROUP_HELP.items():
        cli.group(g, h)
    for mod in COMMAND_MODULES:  # a missing module is an error, never a silently missing command
        importlib.import_module(mod).register(cli)
    return parser


def emit(args: argparse.Namespace, out: Outcome) -> int:
    if getattr(args, "json", False):
        print(json.dumps(out.data, ensure_ascii=False, indent=None, default=str))
    elif out.text:
        print(out.text)
    return out.exit_status


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        out = args.func(args)
    except MeiboError as e:
        if getattr(args, "json", False):
            print(json.dumps(e.as_dict(), ensure_ascii=False, default=str))
        else:
            line = f"エラー: {e.message}"
            if getattr(e, "alarm", False) and sys.stderr.isatty():
                line = f"\033[1;31m{line}\033[0m"  # an alarm (store_rolled_back) stands out in red
            print(line, file=sys.stderr)
            for p in e.problems[:200]:
                print(f"  {p.where()}: {p.message}", file=sys.stderr)
            if len(e.problems) > 200:
                print(f"  …ほか {len(e.problems) - 200} 件", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        return 130
    return emit(args, out)


def stop_on_signals() -> None:
    """SIGINT and SIGTERM both become ``KeyboardInterrupt`` in the main thread, so every command's
    ``finally`` runs (a virtual card leaves its reader, a temporary file is removed).

    Set explicitly because Python installs its SIGINT handler only when SIGINT was at its default
    at start-up: a process started from ``cmd &`` in a non-interactive shell, from nohup or from
    some CI runners inherits SIGINT *ignored* and would sleep through Ctrl-C; and SIGTERM would
    kill it without any clean-up. Commands on an asyncio loop replace these with
    ``loop.add_signal_handler`` (a stop event), which also overrides an inherited SIG_IGN.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)


def run() -> None:
    """The console script: signals as above, then the command's exit status."""
    stop_on_signals()
    sys.exit(main())


if __name__ == "__main__":
    run()
