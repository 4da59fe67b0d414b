"""``meibo sim``: run the deterministic simulation of the sync protocol (決定的シミュレーション).

``meibo sim --seeds N [--start S]`` runs N seeds and prints seeds run, virtual hours, faults
injected by kind, invariant violations and the longest convergence after heal; a failing seed is
printed with its replay command and the exit status is non-zero. ``meibo sim --seed S`` replays
one seed and prints its fault mix and trace. ``--bug NAME`` plants a known bug to show that the
checker catches it. The wall time printed is measured here, at the edge; the simulation itself
never reads a real clock.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

from cli.base import Cli, Outcome, emit
from ground.errors import MeiboError, UsageError
from tooling.sim.run import BUGS, WEAKNESS_COUNTS, RunReport, run_seed

HOUR_MS = 3_600_000


def _fmt_faults(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "なし"


def _one(args: argparse.Namespace) -> Outcome:
    r = run_seed(args.seed, args.bug, keep_trace=True)
    lines = [f"シード {r.seed}" + (f"（埋め込みバグ {r.bug}）" if r.bug else ""),
             "故障の組み合わせ:"]
    lines += [f"  {k}: {v}" for k, v in r.mix.items()]
    lines.append("経過:")
    lines += [f"  {ln}" for ln in (r.trace or [])[: args.trace_lines]]
    if r.trace and len(r.trace) > args.trace_lines:
        lines.append(f"  …ほか {len(r.trace) - args.trace_lines} 行（--trace-lines で増やせます）")
    lines.append(f"仮想時間 {r.virtual_ms / HOUR_MS:.2f} 時間, 収束 {r.convergence_ms} ms, 故障 {_fmt_faults(r.faults)}")
    lines.append(f"トレースハッシュ {r.trace_hash}")
    if r.ok:
        lines.append("不変条件の違反はありません")
    else:
        lines.append(f"不変条件の違反 {len(r.violations)} 件:")
        lines += [f"  {v}" for v in r.violations]
    data = r.as_dict()
    data["code"] = "ok" if r.ok else "violations"
    data["trace"] = r.trace if args.json else None
    return Outcome(data, "\n".join(lines), 0 if r.ok else 1)


def _many(args: argparse.Namespace) -> Outcome:
    if args.seeds < 1:
        raise UsageError("--seeds は 1 以上で指定してください", code="bad_seeds")
    t0 = time.perf_counter()
    faults: Counter[str] = Counter()
    weak: Counter[str] = Counter()
    virtual = 0
    longest: tuple[int, int] | None = None
    failed: list[RunReport] = []
    for seed in range(args.start, args.start + args.seeds):
        r = run_seed(seed, args.bug)
        virtual += r.virtual_ms
        faults.update(r.faults)
        weak.update({k: r.counts.get(k, 0) for k in WEAKNESS_COUNTS})
        if r.convergence_ms is not None and (longest is None or r.convergence_ms > longest[0]):
            longest = (r.convergence_ms, seed)
        if not r.ok:
            failed.append(r)
            if args.fail_fast:
                break
    wall = time.perf_counter() - t0
    run = args.seeds if not (args.fail_fast and failed) else failed[-1].seed - args.start + 1
    bug = f" --bug {args.bug}" if args.bug else ""
    lines = [f"シード {run} 件（{args.start}〜{args.start + run - 1}）" + (f", 埋め込みバグ {args.bug}" if args.bug else ""),
             f"仮想時間 {virtual / HOUR_MS:.1f} 時間, 実時間 {wall:.1f} 秒（1,000 シードあたり {wall * 1000 / run:.1f} 秒）",
             f"注入した故障: {_fmt_faults(dict(faults))}",
             f"回復後の最長収束時間: {longest[0] / 1000:.2f} 秒（シード {longest[1]}）" if longest else "回復後の収束: なし",
             f"不変条件の違反: {sum(len(r.violations) for r in failed)} 件（{len(failed)} シード）",
             f"既知の弱点: 再接続で失われた判定 {weak['verdict_lost_on_reconnect']} 件、"
             f"うち HQ が投票済と判定していた二重交付 {weak['double_ballot_hq_knew']} 件"]
    for r in failed[:20]:
        lines.append(f"  シード {r.seed}: {r.violations[0]}")
        lines.append(f"    再現: meibo sim --seed {r.seed}{bug}")
    data: dict[str, Any] = {
        "code": "ok" if not failed else "violations", "seeds": run, "start": args.start, "bug": args.bug,
        "virtual_hours": round(virtual / HOUR_MS, 2), "wall_s": round(wall, 2),
        "wall_s_per_1000": round(wall * 1000 / run, 2), "faults": dict(sorted(faults.items())),
        "violations": sum(len(r.violations) for r in failed),
        "weaknesses": {k: weak[k] for k in WEAKNESS_COUNTS},
        "longest_convergence_ms": longest[0] if longest else None,
        "longest_convergence_seed": longest[1] if longest else None,
        "failed": [{"seed": r.seed, "violations": r.violations, "replay": f"meibo sim --seed {r.seed}{bug}"}
                   for r in failed],
    }
    return Outcome(data, "\n".join(lines), 0 if not failed else 1)


def sim(args: argparse.Namespace) -> Outcome:
    if args.seed is not None:
        return _one(args)
    return _many(args)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=100, help="number of seeds to run (default 100)")
    p.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--seed", type=int, default=None, help="replay one seed, printing its fault mix and trace")
    p.add_argument("--bug", choices=BUGS, default=None, help="plant a known bug (the checker must catch it)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing seed")
    p.add_argument("--trace-lines", type=int, default=400, help="trace lines to print with --seed")


def register(cli: Cli) -> None:
    """Add ``meibo sim``."""
    p = cli.command(None, "sim", sim, "同期プロトコルの決定的シミュレーション（故障注入と検査）")
    add_arguments(p)


def main(argv: list[str] | None = None) -> int:
    """``python -m cli.sim``: the same command without the full CLI."""
    parser = argparse.ArgumentParser(prog="meibo")
    cli = Cli(parser, parser.add_subparsers(dest="cmd", required=True))
    register(cli)
    args = parser.parse_args(["sim", *(sys.argv[1:] if argv is None else argv)])
    try:
        return emit(args, args.func(args))
    except MeiboError as e:
        print(f"エラー: {e.message}", file=sys.stderr)
        return e.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
