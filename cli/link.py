"""``meibo link-proxy``: run the emulated LTE link (回線エミュレータ) between a terminal and HQ.

I/O edge only: parses arguments, builds a ``FaultProxy`` and serves until SIGINT/SIGTERM or
``--duration``. Prints one line when listening (so scripts can wait for it) and the byte counts
at the end. Must never import the terminal's store.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys

from cli.base import Cli, Outcome, emit
from ground.clock import clock_from_arg
from ground.errors import MeiboError, UsageError
from sync_protocol.fault_proxy import FaultProxy, LinkStats
from sync_protocol.lte_link import (PROFILES, LinkProfile, ScheduleEntry, outage_profile,
                                    parse_schedule, profile_named)


def _hostport(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{what} は ホスト:ポート で指定してください: {text!r}（例: 127.0.0.1:8443）",
                         code="bad_address")
    return (host.strip("[]"), int(port))


def _profile(args: argparse.Namespace) -> LinkProfile:
    if args.profile == "outage":
        return outage_profile(after_s=args.outage_after, for_s=args.outage_for)
    return profile_named(args.profile)


def _stats_text(s: LinkStats) -> str:
    return (f"上り {s.up.bytes_out} バイト / 下り {s.down.bytes_out} バイト, "
            f"接続 {s.connections_total} 件（切断 {s.connections_cut}, 拒否 {s.connections_refused}）")


async def _serve(args: argparse.Namespace, schedule: list[ScheduleEntry]) -> LinkStats:
    proxy = FaultProxy(_hostport(args.upstream, "--upstream"), rng=random.Random(args.seed),
                       profile=_profile(args), listen=_hostport(args.listen, "--listen"),
                       schedule=schedule, speed=args.speed, clock=clock_from_arg(args.now))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with proxy:
            host, port = proxy.address
            print(f"回線エミュレータ待受中 {host}:{port} → {args.upstream} "
                  f"（プロファイル {args.profile}, 速度 {args.speed:g} 倍, シード {args.seed}）",
                  file=sys.stderr, flush=True)
            try:
                await asyncio.wait_for(stop.wait(), args.duration)
            except asyncio.TimeoutError:
                pass
            return proxy.stats()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def link_proxy(args: argparse.Namespace) -> Outcome:
    schedule: list[ScheduleEntry] = []
    for text in args.schedule or []:
        schedule += parse_schedule(text)
    if args.speed <= 0:
        raise UsageError(f"--speed は正の数で指定してください: {args.speed}", code="bad_speed")
    stats = asyncio.run(_serve(args, schedule))
    return Outcome({"code": "ok", "stats": stats.as_dict()}, "回線エミュレータ終了: " + _stats_text(stats))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default="127.0.0.1:0", help="待受 ホスト:ポート（127.0.0.1 のみ）")
    p.add_argument("--upstream", required=True, help="転送先 ホスト:ポート（HQ）")
    p.add_argument("--profile", default="good", choices=sorted(PROFILES), help="回線プロファイル")
    p.add_argument("--schedule", action="append", metavar='"10:00-11:30 down"',
                   help="予定（日本時間）: HH:MM[:SS]-HH:MM[:SS] down|blackout、; 区切りで複数")
    p.add_argument("--seed", type=int, default=0, help="乱数シード")
    p.add_argument("--speed", type=float, default=1.0, help="予定の時間圧縮倍率（RTT は圧縮しない）")
    p.add_argument("--now", help="予定の基準となる開始時刻（ISO 8601, 既定は現在時刻）")
    p.add_argument("--outage-after", type=float, default=0.0, help="outage: 開始までの秒数（仮想時間）")
    p.add_argument("--outage-for", type=float, default=60.0, help="outage: 不通の秒数（仮想時間）")
    p.add_argument("--duration", type=float, default=None, help="この秒数（実時間）で終了")


def register(cli: Cli) -> None:
    """Add ``meibo link-proxy``."""
    p = cli.command(None, "link-proxy", link_proxy,
                    "LTE 回線エミュレータ（試験・デモ用 TCP プロキシ）")
    add_arguments(p)


def main(argv: list[str] | None = None) -> int:
    """``python -m cli.link``: the same command without the full CLI."""
    parser = argparse.ArgumentParser(prog="meibo link-proxy")
    cli = Cli(parser, parser.add_subparsers(dest="cmd", required=True))
    register(cli)
    args = parser.parse_args(["link-proxy", *(sys.argv[1:] if argv is None else argv)])
    try:
        return emit(args, args.func(args))
    except MeiboError as e:
        print(f"エラー: {e.message}", file=sys.stderr)
        for pr in e.problems:
            print(f"  {pr.where()}: {pr.message}", file=sys.stderr)
        return e.exit_status


if __name__ == "__main__":
    sys.exit(main())
