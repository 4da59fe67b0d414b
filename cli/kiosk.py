"""``meibo kiosk TDIR``: the poll-worker kiosk (Kivy).

On an absent (or empty) TDIR it starts at the smart-card enrollment screen; then the station
unlock (encrypted store), the opening check and the kiosk, with the sync agent and the hardware
drivers, all on one asyncio loop in one window (ui_kivy/app.py ``StationRun``).
Kivy is imported only when the command runs, so ``meibo --help`` works without a display.
``--hq`` names HQ nodes to try in order, repeatable like ``meibo terminal run --hq A --hq B``,
checked by sync_protocol/hq_nodes.checked_addresses before anything opens.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

from appliance.dirs import TerminalDir
from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from ground.errors import UsageError
from sync_protocol.hq_nodes import checked_addresses
from ui_kivy.fonts import find_cjk_font


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{3,4})x(\d{3,4})", text.strip())
    if not m:
        raise UsageError(f"--size は 幅x高さ で指定してください（例: 1280x800）: {text!r}", code="size_invalid")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 1024 or h < 600:
        raise UsageError(f"画面が小さすぎます（1024x600 以上）: {text}", code="size_invalid")
    return w, h


def _hostport(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--enroll-hq は アドレス:ポート で指定してください（例: 10.20.0.1:8444）: {text!r}",
                         code="address_invalid")
    return text


def _cmd_kiosk(args: argparse.Namespace) -> Outcome:
    hq_nodes = checked_addresses(args.hq) if args.hq else None  # hq_address_malformed / _duplicate
    # lazy: the Kivy app; kept off the start-up of every other meibo command (and of --help)
    from ui_kivy.app import run_kiosk

    size = _size(args.size)
    find_cjk_font()  # fail before any window opens, with the package to install
    tdir = Path(args.tdir)
    if TerminalDir(tdir).identity_path.exists():
        TerminalDir(tdir).identity()  # a broken terminal.toml → a clear error before Kivy starts
    elif tdir.exists() and (not tdir.is_dir() or any(tdir.iterdir())):
        raise UsageError(f"端末ディレクトリが登録済みでも空でもありません（上書きしません）: {tdir}",
                         code="dir_not_empty")
    if args.enroll_hq is not None:
        _hostport(args.enroll_hq)
    asyncio.run(run_kiosk(tdir, clock=clock_from_arg(args.now), clerk=args.clerk, scanner=args.scanner,
                          modems=list(args.modem or []), hq=hq_nodes, size=size, fullscreen=args.fullscreen,
                          enroll_hq=args.enroll_hq))
    return Outcome({"code": "ok"}, "")


def register(cli: Cli) -> None:
    p = cli.command(None, "kiosk", _cmd_kiosk, "受付端末の画面（名簿対照キオスク）を起動する")
    p.add_argument("tdir", help="端末ディレクトリ（ないか空なら、スマートカードによる登録の画面から始まる）")
    p.add_argument("--now", help="現在時刻（ISO 8601、リハーサル・試験用）")
    p.add_argument("--scanner", help="入場整理券スキャナのシリアルポート")
    p.add_argument("--modem", action="append", help="LTE モデムのシリアルポート（2 台まで、繰り返し指定）")
    p.add_argument("--hq", metavar="ADDR:PORT", action="append",
                   help="本部のアドレス host:port（既定: 選挙設定の [hq] addresses、なければ登録時のもの）。"
                        "本部ノードが複数なら繰り返して指定: この順に試し、つながらなければ次へ")
    p.add_argument("--enroll-hq", help="本部の登録窓口 host:port（既定はカードに記録された本部のアドレスのポート + 1）")
    p.add_argument("--size", default="1280x800", help="画面の大きさ（既定 1280x800）")
    p.add_argument("--fullscreen", action="store_true", help="全画面で表示する")
    p.add_argument("--clerk", default="係員", help="担当者（投票事務従事者）の名前または ID")
