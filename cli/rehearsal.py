"""Commands: ``meibo terminal rehearsal start|status|checkin|run|finish`` (リハーサル, ゼロ確認).

The I/O edge of appliance/rehearsal.py: arguments in, ``Outcome`` out (Japanese text, ``--json``
with stable English codes). What the appliance layer may not do itself is composed here and passed
in: a sync round with HQ for the test journal (sync_protocol's agent, the HELLO naming the test
id), HQ's published versions for the zero proof (a short session of the real terminal's agent),
and the cross-station double-vote detector (hq/ledger's own ``Ledger``, the one HQ runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance import atrest, rehearsal
from appliance.dirs import TerminalDir
from appliance.rehearsal_pdf import render_proof, render_report
from appliance.terminal import Terminal
from cli.base import Cli, Outcome
from cli.security import read_pin_file
from cli.terminal import run_checkin
from ground.clock import clock_from_arg
from ground.model import StationId, TerminalId
from hq.ledger import Ledger
from sync_protocol.client import SyncAgent
from sync_protocol.hq_round import ROUND_SETTINGS, published_versions, rehearsal_sync_round
from sync_protocol.resolve import ContestOutcome



def detect_double_votes(journals: Sequence[tuple[str, str, list[Any]]]) -> list[tuple[str, str]]:
    """HQ's detector on the test journals of two stations, as HQ would meet them."""
    ledger = Ledger("rehearsal")  # the events name no election: the journals were checked apart
    for terminal, station, _ in journals:
        ledger.register(TerminalId(terminal), StationId(station), b"")
    for _, _, events in journals:
        ledger.apply_all(events)
    return [(str(a.voter), str(a.contest)) for a in ledger.active_alerts()]


def sync_round(tdir: TerminalDir, timeout_s: float) -> rehearsal.SyncRound:
    return rehearsal_sync_round(tdir, timeout_s)


async def _resolve_online(tdir: TerminalDir, term: Terminal, seq: int, contests: list[str],
                          timeout_s: float) -> list[str]:
    agent = SyncAgent(tdir, term, ROUND_SETTINGS)
    task = asyncio.create_task(agent.run())
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not agent.online.is_set() and agent.refused is None:
                    await asyncio.sleep(0.05)
        res = await agent.resolve(seq, contests)
        return list(res.withheld)
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)


def resolve_at(timeout_s: float) -> rehearsal.PartnerResolve:
    def run(tdir: TerminalDir, term: Terminal, seq: int, contests: list[str]) -> list[str]:
        return asyncio.run(_resolve_online(tdir, term, seq, contests, timeout_s))
    return run


def hq_versions(tdir: TerminalDir, clock: Any, timeout_s: float) -> rehearsal.HqVersions:
    def ask() -> tuple[dict[str, Any] | None, str]:
        return asyncio.run(published_versions(tdir, clock, timeout_s))
    return ask


def _tdir(args: argparse.Namespace) -> TerminalDir:
    return TerminalDir(Path(args.tdir))


def _cmd_start(args: argparse.Namespace) -> Outcome:
    meta = rehearsal.start(_tdir(args), clock_from_arg(args.now), voters=args.voters)
    return Outcome({"code": "ok", **meta},
                   f"試験モードを開始しました（試験の選挙 {meta['election']}、テスト選挙人 {meta['test_voters']} 人）。\n"
                   "本番の受付はできません。終わるときは meibo terminal rehearsal finish でゼロ確認をしてください")


def _cmd_status(args: argparse.Namespace) -> Outcome:
    st = rehearsal.status(_tdir(args), clock_from_arg(args.now))
    if not st["active"]:
        return Outcome(st, "試験モードではありません（本番）")
    return Outcome(st, f"試験モード中です（{st['started_at']} 開始、試験の選挙 {st['election']}、"
                       f"試験の記録 {st['test_journal_seq']} 件）")


def _offline(term: Terminal, local: Any) -> list[ContestOutcome]:
    term.record_provisional(local.seq)
    return [ContestOutcome(c, "offline_provisional", "") for c in local.handed]


def _cmd_checkin(args: argparse.Namespace) -> Outcome:
    with rehearsal.open_test_terminal(_tdir(args), clock_from_arg(args.now)) as term:
        out = run_checkin(term, args.voter_id, args.clerk, {}, resolver=_offline)
    out.data["rehearsal"] = True
    out.text = "【試験】" + out.text
    return out


def _cmd_run(args: argparse.Namespace) -> Outcome:
    tdir = _tdir(args)
    clock = clock_from_arg(args.now)
    rep = rehearsal.run(tdir, clock, sync=sync_round(tdir, args.hq_timeout) if args.hq else None,
                        partner=TerminalDir(Path(args.partner)) if args.partner else None,
                        detect=detect_double_votes, resolve_at=resolve_at(args.hq_timeout) if args.hq else None)
    d = rep.as_dict()
    d["code"] = {"PASS": "ok", "FAIL": "rehearsal_failed", "INCOMPLETE": "rehearsal_incomplete"}[rep.verdict]
    lines = [f"【試験】リハーサル  端末 {rep.terminal}  投票所 {rep.station}  判定 {rep.verdict}"]
    for s in rep.steps:
        lines.append(f"  [{s.result}] {s.name}\n      期待: {s.expected}\n      結果: {s.seen}")
    if args.pdf:
        d["pdf"] = args.pdf
        d["pages"] = render_report(d, Path(args.pdf))
        lines.append(f"報告書: {args.pdf}（{d['pages']} 頁）")
    return Outcome(d, "\n".join(lines), 0 if rep.verdict == "PASS" else 1)


def _cmd_finish(args: argparse.Namespace) -> Outcome:
    tdir = _tdir(args)
    clock = clock_from_arg(args.now)
    # A locked store is unlocked for the proof only and locked again: never through meibo terminal
    # open, whose 開設 entry would itself make the real journal non-empty.
    unlocked_here = False
    if args.pin_file and atrest.is_protected(tdir) and atrest.unlocked_key(tdir) is None:
        atrest.open_station(tdir, read_pin_file(args.pin_file))
        unlocked_here = True
    try:
        proof = rehearsal.finish(tdir, clock,
                                 hq_versions=hq_versions(tdir, clock, args.hq_timeout) if args.hq else None)
    finally:
        if unlocked_here:
            atrest.close_station(tdir)
    lines = [f"試験モードを終了し、試験のデータを消去しました。ゼロ確認: {proof['verdict']}"]
    for c in proof["checks"]:
        lines.append(f"  [{c['result']}] {c['name']}: {c['seen']}")
    if args.pdf:
        proof["pdf"] = args.pdf
        proof["pages"] = render_proof(proof, Path(args.pdf))
        lines.append(f"ゼロ確認書: {args.pdf}（{proof['pages']} 頁）")
    return Outcome(proof, "\n".join(lines), 0 if proof["verdict"] != "FAIL" else 1)


def register(cli: Cli) -> None:
    subs = cli.groups["terminal"]
    rp = subs.add_parser("rehearsal", help="リハーサル（試験モード）とゼロ確認")
    rs = rp.add_subparsers(dest="rsub", metavar="COMMAND", required=True)

    def cmd(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = rs.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("tdir")
        p.add_argument("--now", help="ISO 8601 (Japan time)")
        p.set_defaults(func=func)
        return p

    p = cmd("start", _cmd_start, "試験モードを開始する（試験の名簿・記録を別に作る。本番の記録は変えない）")
    p.add_argument("--voters", type=int, default=rehearsal.TEST_VOTERS, help="テスト選挙人の数")
    cmd("status", _cmd_status, "試験モードかどうかを表示する")
    p = cmd("checkin", _cmd_checkin, "試験の受付（テスト選挙人、オフライン受付として記録）")
    p.add_argument("voter_id")
    p.add_argument("--clerk", default="rehearsal", help="担当者ID")
    p = cmd("run", _cmd_run, "リハーサルの手順を実行し、期待と結果を PASS/FAIL で報告する")
    p.add_argument("--partner", help="二重投票の試験に使う、別の投票所の端末ディレクトリ（試験モード中）")
    p.add_argument("--hq", action="store_true", help="本部（試験モード）に試験の記録を送る")
    p.add_argument("--hq-timeout", type=float, default=10.0)
    p.add_argument("--pdf", help="リハーサル報告書（PDF）の出力先")
    p = cmd("finish", _cmd_finish, "試験モードを終了する: 試験のデータを消去し、ゼロ確認書を出す")
    p.add_argument("--hq", action="store_true", help="名簿・選挙の版を本部に確認する")
    p.add_argument("--hq-timeout", type=float, default=10.0)
    p.add_argument("--pdf", help="ゼロ確認書（PDF）の出力先")
    p.add_argument("--pin-file", help="投票管理者 PIN のファイル: 保存データが閉じているとき、確認の間だけ開く（開設の記録はしない）")
