"""``meibo bench fleet``: the fleet benchmark a vendor can run (端末群の負荷試験, issue 20).

I/O edge only: parses the sizes, runs ``tooling.fleet.run_fleet`` and prints each figure with its
floor or goal, one a line (``--json``: every figure as data, ``code`` ``ok``). A bad size is a
``fleet_plan`` usage error and nothing is started. What is measured: docs/fleet.md.
"""

from __future__ import annotations

import argparse

from cli.base import Cli, Outcome
from ground.errors import UsageError
from sync_protocol.lte_link import PROFILES
from tooling.fleet import FleetPlan, print_report, run_fleet


def _profiles(text: str) -> tuple[tuple[str, float], ...]:
    """``good=0.6,handover=0.2,cell-edge=0.2``: each terminal's LTE profile, by share."""
    out: list[tuple[str, float]] = []
    for part in text.split(","):
        name, sep, share = part.strip().partition("=")
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not sep or name not in PROFILES or name == "outage" or not 0 < value <= 1:
            raise UsageError(f"回線の割合が読めません: {part.strip()!r}（例: good=0.6,handover=0.2,cell-edge=0.2）",
                             code="fleet_plan")
        out.append((name, value))
    if abs(sum(v for _, v in out) - 1.0) > 1e-6:
        raise UsageError("回線の割合の合計は 1 にしてください", code="fleet_plan")
    return tuple(out)


def plan_of(args: argparse.Namespace) -> FleetPlan:
    checks = [(args.terminals >= 2, "端末は 2 台以上で指定してください"),
              (args.minutes >= 0, "--minutes は 0 以上で指定してください"),
              (args.rate > 0, "--rate は正の数で指定してください"),
              (args.workers >= 1, "--workers は 1 以上で指定してください"),
              (args.storm_events >= 2, "--storm-events は 2 以上で指定してください"),
              (args.minutes > 0 or args.storm, "--minutes 0 のときは --storm を付けてください")]
    for ok, message in checks:
        if not ok:
            raise UsageError(message, code="fleet_plan")
    return FleetPlan(terminals=args.terminals, duration_s=args.minutes * 60.0, rate_per_min=args.rate,
                     workers=args.workers, profiles=_profiles(args.profiles), seed=args.seed,
                     load=args.minutes > 0, storm=args.storm, storm_events=args.storm_events)


def _cmd_fleet(args: argparse.Namespace) -> Outcome:
    plan = plan_of(args)
    lines: list[str] = []
    report = run_fleet(plan, say=(lambda s: None) if args.json else print)
    print_report(report, lines.append)
    missed = [f.name for f in report.figures if f.ok is False]
    text = "\n".join(["負荷試験の結果（各数値に同じ実行で測った基準・目標を併記）:"] + lines
                     + ([f"目標に届かなかった項目: {', '.join(missed)}"] if missed else ["すべての目標を満たしました"]))
    return Outcome({"code": "ok", **report.as_dict(), "missed": missed}, text)


def register(cli: Cli) -> None:
    cli.group("bench", "benchmarks (性能測定)")
    p = cli.command("bench", "fleet", _cmd_fleet, "端末群の負荷試験: 多数の端末を一つの本部に接続して測る")
    p.add_argument("--terminals", type=int, default=200, help="terminals (default 200)")
    p.add_argument("--minutes", type=float, default=3.0, help="minutes of the peak (default 3; 0: storm only)")
    p.add_argument("--rate", type=float, default=3000.0, help="check-ins a minute, whole fleet (default 3000)")
    p.add_argument("--workers", type=int, default=2, help="processes the terminals run in (default 2)")
    p.add_argument("--profiles", default="good=0.6,handover=0.2,cell-edge=0.2",
                   help="share of terminals per LTE profile")
    p.add_argument("--storm", action="store_true", help="then the reconnect storm: every link down, back within 1 s")
    p.add_argument("--storm-events", type=int, default=2000, help="journal entries each terminal records offline")
    p.add_argument("--seed", type=int, default=1)
