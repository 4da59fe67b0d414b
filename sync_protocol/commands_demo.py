"""``meibo demo``: the simulated election day, end to end (see sync_protocol/demo.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from appliance.cli import Cli, Outcome
from sync_protocol.demo import run_demo


def _cmd_demo(args: argparse.Namespace) -> Outcome:
    say = (lambda *a, **k: None) if args.json else (lambda *a, **k: print(*a, **k, flush=True))
    report = run_demo(Path(args.dir), stations=args.stations, voters=args.voters, hours=args.hours,
                      speed=args.speed, checkins=args.checkins, seed=args.seed, say=say)
    if args.console:
        say("本部の監視画面は meibo console " + str(Path(args.dir) / "hq") + " で開けます")
    return Outcome(report.as_dict(), report.text(), 0 if report.ok() else 1)


def register(cli: Cli) -> None:
    p = cli.command(None, "demo", _cmd_demo, "模擬投票日を一台の上で通しで実行する（本部・端末・LTE 回線エミュレータ）")
    p.add_argument("--stations", type=int, default=6)
    p.add_argument("--voters", type=int, default=100_000)
    p.add_argument("--hours", type=float, default=13)
    p.add_argument("--speed", type=float, default=600, help="simulated seconds per real second")
    p.add_argument("--checkins", type=int, default=2400, help="check-in attempts over both days")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", default="demo-run", help="where the demo's HQ and terminals are created")
    p.add_argument("--console", action="store_true", help="say how to open the HQ console afterwards")
    p.add_argument("--kiosk", action="store_true", help="(reserved) open one kiosk")
