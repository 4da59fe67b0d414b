"""``meibo demo``: the simulated election day, end to end (see tooling/demo.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from cli.base import Cli, Outcome
from tooling.demo import run_demo
from tooling.demo_pg import run_pg_demo
from tooling.demo_windows import gui_commands, open_windows


def _cmd_demo(args: argparse.Namespace) -> Outcome:
    def say(*a: Any) -> None:
        if not args.json:
            print(*a, flush=True)

    run = run_pg_demo if args.store == "postgresql" else run_demo
    report = run(Path(args.dir), stations=args.stations, voters=args.voters, hours=args.hours,
                      speed=args.speed, checkins=args.checkins, seed=args.seed, say=say)
    data = report.as_dict()
    windows = gui_commands(Path(args.dir), report, args.stations, console=args.console, kiosk=args.kiosk)
    if windows:
        say(report.text())  # the figures first, then the windows
        data["windows"] = open_windows(Path(args.dir), windows, dict(os.environ), say)
        return Outcome(data, "", 0 if report.ok() else 1)
    return Outcome(data, report.text(), 0 if report.ok() else 1)


def register(cli: Cli) -> None:
    p = cli.command(None, "demo", _cmd_demo, "模擬投票日を一台の上で通しで実行する（本部・端末・LTE 回線エミュレータ）")
    p.add_argument("--stations", type=int, default=6)
    p.add_argument("--voters", type=int, default=100_000)
    p.add_argument("--hours", type=float, default=13)
    p.add_argument("--speed", type=float, default=600, help="simulated seconds per real second")
    p.add_argument("--checkins", type=int, default=2400, help="check-in attempts over both days")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite",
                   help="HQ's store: sqlite (hq.db, no server); postgresql: a primary + synchronous standby "
                        "(Debian's postgresql, as the postgres user), two HQ nodes (hq serve and hq serve --standby), "
                        "the primary database and the leading HQ killed at noon on Saturday, the standby promoted")
    p.add_argument("--dir", default="demo-run", help="where the demo's HQ and terminals are created")
    p.add_argument("--console", action="store_true",
                   help="open the HQ console (meibo console) on the demo's HQ after the day, if there is a display")
    p.add_argument("--kiosk", action="store_true",
                   help="open one election-day terminal's kiosk (meibo kiosk) after the day, if there is a display")
