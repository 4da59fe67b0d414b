"""Hardware commands: ``meibo hardware sim`` and ``meibo terminal status``.

The devices themselves, the simulated rig and the probe are in ``hardware/rig.py``; this module
only reads arguments and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from appliance.dirs import TerminalDir
from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from ground.errors import UsageError
from ground.model import BarcodeFormat
from hardware.rig import probe, start_sim
from hardware.settings import Suffix


async def _stdin_lines() -> "asyncio.Queue[str | None]":
    """Lines typed on stdin (None at end). Pipes and ttys are read as they come; files at once."""
    q: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
        # epoll refuses regular files and /dev/null (EPERM, raised later from a callback):
        # only pipes, sockets and terminals are read as they come.
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(sys.stdin.fileno())):
            raise ValueError("not a pipe")
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError):
        for line in sys.stdin.read().splitlines():
            q.put_nowait(line)
        q.put_nowait(None)
        return q

    async def pump() -> None:
        while True:
            raw = await reader.readline()
            if not raw:
                q.put_nowait(None)
                return
            q.put_nowait(raw.decode("utf-8", errors="replace").strip())
    loop.create_task(pump())
    return q


def _cmd_sim(args: argparse.Namespace) -> Outcome:
    if not 0 <= args.modem <= 2:
        raise UsageError("--modem は 0〜2 台です", code="bad_modem_count")
    if args.modem == 0 and not args.scanner:
        raise UsageError("--modem N か --scanner を指定してください", code="nothing_to_simulate")
    fmt = BarcodeFormat(prefix=args.prefix)

    async def main() -> dict[str, Any]:
        link_dir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="meibo-hw-"))
        rig = await start_sim(args.modem, args.scanner, link_dir=link_dir, forced_apn=args.apn,
                              suffix=Suffix(args.suffix), fmt=fmt, seed=args.seed)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        paths = rig.paths()
        if args.json:
            print(json.dumps({"code": "started", **paths}, ensure_ascii=False), flush=True)
        else:
            for i, p in enumerate(paths["modems"]):
                print(f"モデム{i + 1}: {p}", flush=True)
            if paths["scanner"]:
                print(f"スキャナ: {paths['scanner']}", flush=True)
            print("操作を入力してください（help で一覧、quit で終了）", flush=True)
        lines = await _stdin_lines()
        actions = 0
        stdin_open = True
        while not stop.is_set():
            getter = asyncio.ensure_future(lines.get()) if stdin_open else None
            waiter = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({t for t in (getter, waiter) if t},
                                         timeout=args.duration, return_when=asyncio.FIRST_COMPLETED)
            for t in (getter, waiter):
                if t is not None and t not in done:
                    t.cancel()
            if not done:
                break  # --duration elapsed
            if getter is None or getter not in done:
                continue
            line = getter.result()
            if line is None:
                stdin_open = False  # keep serving the ptys until a signal (or --duration)
                continue
            if line.strip().lower() in ("quit", "exit"):
                break
            try:
                code, text = rig.act(line)
            except UsageError as e:
                code, text = e.code, f"エラー: {e.message}"
            if code != "noop":
                actions += 1
                print(json.dumps({"code": code, "text": text}, ensure_ascii=False) if args.json else text,
                      flush=True)
        for s in rig.modem_servers:
            await s.close()
        if rig.scanner_server:
            await rig.scanner_server.close()
        return {"code": "ok", "stopped": True, "actions": actions, **paths}

    data = asyncio.run(main())
    return Outcome(data, f"シミュレータを停止しました（操作 {data['actions']} 件）")


def _cmd_status(args: argparse.Namespace) -> Outcome:
    config = TerminalDir(Path(args.tdir)).config()
    clock = clock_from_arg(getattr(args, "now", None))
    snap = asyncio.run(probe(args.modem or [], args.scanner, config=config, timeout_s=args.timeout, clock=clock))
    problems = [m.name for m in snap.modems if not m.registered or m.apn_check.value != "ok"]
    if snap.scanner is not None and not snap.scanner.connected:
        problems.append(snap.scanner.name)
    code = "hardware_problem" if problems else "ok"
    text = snap.text_ja() if (snap.modems or snap.scanner) else "機器が指定されていません（--modem / --scanner）"
    return Outcome({"code": code, "problems": problems, **snap.as_dict()}, text, 1 if problems else 0)


def _has(cli: Any, group: str, name: str) -> bool:
    subs = cli.groups.get(group)
    return subs is not None and name in getattr(subs, "choices", {})


def register(cli: Cli) -> None:
    """Add this package's commands to the ``meibo`` parser."""
    p = cli.command("hardware", "sim", _cmd_sim,
                    "模擬機器（LTE モデム・バーコードスキャナ）を pty で起動し、標準入力の操作で状態を変える")
    p.add_argument("--modem", type=int, default=0, metavar="N", help="模擬モデムの台数（0〜2）")
    p.add_argument("--scanner", action="store_true", help="模擬スキャナを起動する")
    p.add_argument("--apn", default=None, help="SIM が強制する APN（閉域 APN 以外なら特定通信④違反を再現）")
    p.add_argument("--suffix", choices=[s.value for s in Suffix], default="cr", help="スキャナの終端文字")
    p.add_argument("--prefix", default="", help="voter 操作で作るバーコードの識別番号（election.toml の barcode.prefix）")
    p.add_argument("--dir", default=None, help="機器パス（シンボリックリンク）を置くディレクトリ")
    p.add_argument("--seed", type=int, default=0, help="雑音・誤読の乱数の種")
    p.add_argument("--duration", type=float, default=None, help="この秒数で終了する（デモ・試験用）")
    if not _has(cli, "terminal", "status"):
        p = cli.command("terminal", "status", _cmd_status, "端末の機器（モデム・スキャナ）の状態を表示する")
        p.add_argument("tdir", metavar="TDIR")
        p.add_argument("--modem", action="append", metavar="PATH", help="モデムのシリアルポート（2 台なら 2 回）")
        p.add_argument("--scanner", metavar="PATH", help="スキャナのシリアルポート")
        p.add_argument("--timeout", type=float, default=2.0, help="AT コマンド 1 つの待ち時間（秒）")
        p.add_argument("--now", default=None, help="現在時刻（ISO 8601）")
