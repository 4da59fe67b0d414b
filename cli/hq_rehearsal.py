"""Commands: ``meibo hq rehearsal start|status|report|finish HQDIR`` (本部のリハーサル, issue 19).

The verbs are hq/rehearsal_report.py's; this module parses and prints. The switch is a file in
HQDIR, so these work the same whether ``meibo hq serve`` is running (it notices at the next
rehearsal HELLO) or not. Never imports the UI.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir
from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from hq import rehearsal_report as rr


def _hq(args: argparse.Namespace) -> HqDir:
    return HqDir(Path(args.hqdir)).require()


def _start(args: argparse.Namespace) -> Outcome:
    out = rr.start(_hq(args), clock_from_arg(args.now), list(args.terminal or []), args.store)
    named = "、".join(out["terminals"]) or "（接続した端末から）"
    return Outcome(out, f"リハーサルを開始しました（試験用の選挙 {out['election']}）。\n"
                        f"試験モードの端末: {named}\n"
                        "試験モードの端末がある投票所では、終了まで本番の受付を本部が受け付けません。")


def _status(args: argparse.Namespace) -> Outcome:
    out = rr.status(_hq(args))
    if not out["on"]:
        return Outcome(out, "リハーサルは行っていません（本番の台帳だけが使われています）")
    return Outcome(out, "\n".join([
        f"【試験】リハーサル中（{out['election']}、開始 {out['started_at']}）",
        f"試験モードの端末: {'、'.join(out['terminals_in_test_mode']) or 'なし'}",
        f"いま接続中: {'、'.join(out['online']) or 'なし'}",
        f"本番の受付を止めている投票所: {'、'.join(out['stations_refusing_real_checkins']) or 'なし'}",
        f"試験台帳: 受付 {out['test_checkins']} 件、二重投票の警告 {out['test_alerts']} 件"]))


def _steps_text(steps: list[dict[str, Any]]) -> list[str]:
    return [f"  [{s['result']}] {s['title']}: 期待 {s['expected']} / 結果 {s['seen']}" for s in steps]


def _report(args: argparse.Namespace) -> Outcome:
    out = rr.report(_hq(args), clock_from_arg(args.now), Path(args.pdf) if args.pdf else None)
    lines = [f"【試験】本部リハーサル報告（{out['election']}）: {'PASS' if out['passed'] else 'FAIL'}",
             *_steps_text(out["steps"])]
    if "pdf" in out:
        lines.append(f"PDF: {out['pdf']}（{out['pages']} 頁）")
    return Outcome(out, "\n".join(lines), 0 if out["passed"] else 1)


def _finish(args: argparse.Namespace) -> Outcome:
    out = rr.finish(_hq(args), clock_from_arg(args.now), Path(args.pdf) if args.pdf else None, args.store)
    lines = [f"リハーサルを終了し、試験台帳を消去しました（{len(out['removed'])} ファイル）。",
             f"ゼロ確認: {'確認' if out['zero'] else '不一致'}",
             f"  本番台帳にある試験台帳の記録: {out['real_records_from_test_ledger']} 件（期待 0）",
             f"  本番台帳の受付数: 開始時 {out['real_checkins_at_start']} → 終了時 {out['real_checkins_now']}",
             f"  名簿の版 {out['roll_version']}、選挙 {'、'.join(c for c, _ in out['contests'])}",
             "リハーサルの結果:", *_steps_text(out["report"]["steps"])]
    if "pdf" in out:
        lines.append(f"ゼロ確認書 PDF: {out['pdf']}（{out['pages']} 頁）")
    return Outcome(out, "\n".join(lines), 0 if out["zero"] else 1)


def register(cli: Cli) -> None:
    top = cli.command("hq", "rehearsal", _status, "本部のリハーサル（試験モード）: start / status / report / finish")
    subs = top.add_subparsers(dest="rehearsal_cmd", metavar="STEP", required=True)

    def step(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = subs.add_parser(name, help=help, description=help)
        p.add_argument("hqdir", help="本部ディレクトリ")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--now", help="ISO 8601 (Japan time)")
        p.set_defaults(func=func)
        return p

    p = step("start", _start, "リハーサルを開始する（試験台帳を作り、試験用の HELLO を受け付ける）")
    p.add_argument("--terminal", action="append", help="試験モードの端末として登録する（複数可）")
    p.add_argument("--store", help="本番の記録の store URL（既定: election.toml の [hq] store、なければ hq.db）")
    step("status", _status, "リハーサルの状態を表示する")
    p = step("report", _report, "本部のリハーサル報告書（期待と結果、PASS/FAIL）")
    p.add_argument("--pdf", help="報告書 PDF の出力先")
    p = step("finish", _finish, "リハーサルを終了し試験台帳を消去する（ゼロ確認書を出力）")
    p.add_argument("--pdf", help="ゼロ確認書 PDF の出力先")
    p.add_argument("--store", help="本番の記録の store URL（既定: election.toml の [hq] store、なければ hq.db）")
