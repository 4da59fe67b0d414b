"""Commands: ``meibo hq init``, ``meibo hq enroll-local``, ``meibo terminal checkin|void|verify``.

The I/O edge of the terminal core: arguments in, ``Outcome`` out (Japanese text, ``--json`` with
stable English codes). The HQ verbs themselves are in hq/terminals.py; asking HQ for its verdict
on a check-in is sync_protocol/resolve.py (``run_checkin`` can be given another resolver).
Never imports the UI.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.base import Cli, Outcome
from hq.terminals import enroll_local, hq_init
from ground.clock import clock_from_arg
from appliance.dirs import TerminalDir
from ground.errors import UsageError
from appliance.terminal import LocalCheckin, Terminal
from sync_protocol.resolve import ContestOutcome, resolve_with_hq

# ---------------------------------------------------------------------------------------------
# meibo hq init

def _cmd_hq_init(args: argparse.Namespace) -> Outcome:
    root = Path(args.hqdir)
    config = hq_init(root, Path(args.config), clock_from_arg(args.now))
    return Outcome({"code": "ok", "hqdir": str(root), "election": config.election_id,
                    "contests": list(config.contest_ids), "stations": [s.station_id for s in config.stations]},
                   f"HQ ディレクトリを作成しました: {root}\n選挙: {config.name}（{config.election_id}）"
                   f" 選挙 {len(config.contests)} 件・投票所 {len(config.stations)} か所")


# ---------------------------------------------------------------------------------------------
# meibo hq enroll-local

def _cmd_enroll_local(args: argparse.Namespace) -> Outcome:
    pin = None
    if args.pin_file:
        try:
            pin = Path(args.pin_file).read_text("utf-8").strip()
        except OSError as e:
            raise UsageError(f"PIN ファイルを読めません: {args.pin_file} ({e.strerror})", code="pin_unreadable")
    entry = enroll_local(Path(args.hqdir), args.terminal, args.station, Path(args.out),
                         clock_from_arg(args.now), replace=args.replace, pin=pin)
    text = f"端末 {args.terminal} を投票所 {args.station} に登録しました: {args.out}"
    if pin is None:
        text += "\n注意: PIN が指定されていないため、端末の保存データは暗号化されません（--pin-file で登録してください）"
    else:
        text += "\n保存データは暗号化されています。使う前に meibo terminal open TDIR --pin-file F で開設してください"
    return Outcome({"code": "ok", "tdir": args.out, "encrypted": pin is not None, **entry}, text)


# ---------------------------------------------------------------------------------------------
# meibo terminal checkin

Resolver = Callable[[Terminal, LocalCheckin], list[ContestOutcome]]


def checkin_outcome(term: Terminal, local: LocalCheckin, resolved: list[ContestOutcome]) -> Outcome:
    by_contest = {o.decision.contest: o for o in resolved}
    rows: list[dict[str, Any]] = []
    lines_hand: list[str] = []
    lines_refused: list[str] = []
    overall = "ok"
    for d in local.decision.contests:
        o = by_contest.get(d.contest, ContestOutcome(d, d.code.value, d.reason))
        row: dict[str, Any] = {"contest": d.contest, "name": d.name, "status": o.status,
                               "hand": o.hand, "reason": o.reason or d.reason}
        if d.proof_required:
            row["proof_required"] = True
        if d.note:
            row["note"] = d.note
        if d.voted is not None:
            row["voted_station"] = d.voted.station
            row["voted_terminal"] = d.voted.terminal
            row["voted_at"] = d.voted.at.isoformat() if d.voted.at else None
        rows.append(row)
        if o.hand:
            lines_hand.append(f"  {len(lines_hand) + 1}. {d.name}" + (f"\n     ※ {d.note}" if d.note else ""))
        else:
            lines_refused.append(f"  × {d.name}: {row['reason']}（{o.status}）")
            if overall == "ok":
                overall = o.status
    v = local.voter
    data = {"code": overall, "seq": local.seq, "voter": v.voter_id, "station": term.station.station_id,
            "contests": rows}
    text = [f"選挙人番号 {v.voter_id}  {v.name}（{v.name_kana}）  第{v.district}投票区"]
    if lines_hand:
        text.append(f"交付する投票用紙（この順に手渡してください）  受付番号 {local.seq}")
        text += lines_hand
        if any(o.status == "offline_provisional" for o in resolved):
            text.append("  （オフライン受付: 本部の確認は接続後に行われます）")
    else:
        text.append("交付できる投票用紙はありません")
    if lines_refused:
        text.append("交付しない投票用紙")
        text += lines_refused
    return Outcome(data, "\n".join(text), 0 if overall == "ok" else 1)


def run_checkin(term: Terminal, voter_id: str, clerk: str, marks: dict[str, Any],
                resolver: Resolver | None = None) -> Outcome:
    local = term.checkin(voter_id, clerk, marks)
    resolved = (resolver or resolve_with_hq)(term, local) if local.seq is not None else []
    return checkin_outcome(term, local, resolved)


def _open(args: argparse.Namespace) -> Terminal:
    return Terminal.open(TerminalDir(Path(args.tdir)), clock_from_arg(getattr(args, "now", None)))


def _cmd_checkin(args: argparse.Namespace) -> Outcome:
    marks: dict[str, Any] = {}
    if args.proxy:
        marks["proxy"] = True
    if args.braille:
        marks["braille"] = True
    if args.oath_reason:
        marks["oath_reason"] = args.oath_reason
    if args.age_confirmed:
        marks["age_confirmed"] = args.age_confirmed  # 年齢確認 (生年月日 不詳), checked by Terminal.checkin
    with _open(args) as term:
        return run_checkin(term, args.voter_id, args.clerk, marks)


def _cmd_void(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        ev = term.void(args.seq, args.reason, args.clerk)
    return Outcome({"code": "ok", "seq": ev.seq, "ref": args.seq},
                   f"受付記録 {args.seq} 番を取り消しました（記録番号 {ev.seq}）")


def _cmd_verify(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        rep = term.verify()
    data: dict[str, Any] = {"code": rep.code, "entries": rep.entries, "head_seq": rep.head.seq,
                            "head_hash": rep.head.hash.hex()}
    if rep.ok:
        return Outcome(data, f"受付記録は正常です（{rep.entries} 件、最後 {rep.head.seq} 番）")
    data.update(first_broken=rep.first_broken, message=rep.problem)
    return Outcome(data, f"{rep.problem}\n（{rep.entries} 件目までは正常）", 1)


def register(cli: Cli) -> None:
    p = cli.command("hq", "init", _cmd_hq_init, "HQ ディレクトリを作成する（設定の検証・名簿署名鍵・選挙 CA）")
    p.add_argument("hqdir")
    p.add_argument("--config", required=True, help="election.toml")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("hq", "enroll-local", _cmd_enroll_local, "端末ディレクトリを直接登録する")
    p.add_argument("hqdir")
    p.add_argument("--terminal", required=True)
    p.add_argument("--station", required=True)
    p.add_argument("--out", required=True, help="TDIR")
    p.add_argument("--pin-file", help="投票管理者 PIN を書いたファイル")
    p.add_argument("--replace", action="store_true", help="登録をやり直す（古いディレクトリは残す）")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "checkin", _cmd_checkin, "名簿対照（受付）: 交付する投票用紙を判定して記録する")
    p.add_argument("tdir")
    p.add_argument("voter_id")
    p.add_argument("--clerk", default="unspecified", help="担当者ID")
    p.add_argument("--proxy", action="store_true", help="代理投票")
    p.add_argument("--braille", action="store_true", help="点字投票")
    p.add_argument("--oath-reason", help="宣誓書の事由")
    p.add_argument("--age-confirmed", metavar="KIND",
                   help="生年月日不詳の方の年齢を確認した本人確認書類（mynumber / license / passport / insurance / "
                        "residence / other）")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "void", _cmd_void, "受付の取消（投票せずに帰った）")
    p.add_argument("tdir")
    p.add_argument("seq", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--clerk", default="unspecified")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "verify", _cmd_verify, "受付記録のハッシュ連鎖を検証する")
    p.add_argument("tdir")
