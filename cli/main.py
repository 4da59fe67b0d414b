"""The ``meibo`` command: one entry point, subcommands registered by each module of cli/.

Every command prints Japanese for people by default and, with ``--json``, one JSON object with a
stable English ``code``. A refusal (already voted, not eligible, bad input) exits non-zero.
Command modules expose ``register(cli: Cli)`` and add parsers whose ``func(args) -> Outcome``
(``Cli`` and ``Outcome`` live in cli/base.py). They are plain imports here, so a missing module
is an ImportError at once, never a silently missing command.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import ModuleType

from cli import (console, demo, enroll, hardware, kiosk, link, procedures, provision, roll, security, sim,
                 sync, terminal, hq_nodes)
from cli import rehearsal  # meibo terminal rehearsal … (after terminal: it adds to that group)
from cli import hq_rehearsal  # meibo hq rehearsal …
from cli import bench_fleet  # meibo bench fleet
from cli.base import Cli, emit
from ground.errors import MeiboError

# The modules that add commands, in the order their commands appear in ``meibo --help``. Each owns
# its commands and imports ``Cli``/``Outcome`` from cli/base.py; this file only dispatches.
COMMAND_MODULES: list[ModuleType] = [terminal, roll, security, procedures, sync, link, sim, demo, provision,
                                     enroll, hardware, kiosk, console, hq_nodes, rehearsal, hq_rehearsal, bench_fleet]

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
    for mod in COMMAND_MODULES:
        mod.register(cli)
    return parser


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
