"""``meibo terminal enroll`` and ``meibo hq provisioning``: the command-line edge of card enrollment.

Owns: arguments, the PIN prompt (getpass, or ``--pin-file``; never an argument, which would sit
in the shell history and in ``ps``), Japanese output, and running the enrollment endpoint until
Ctrl-C / SIGTERM (provisioning is "switched on" only while this command runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from appliance.dirs import HqDir
from ground.errors import UsageError
from provisioning import card_session
from cli import provision as provision_commands
from hq.enroll_server import EnrollService, serve_enrollment
from hq.server import check_bind_address
from provisioning.enroll import enrollment_address
from provisioning.enroll_client import EnrollSettings, enroll


def _cmd_enroll(args: argparse.Namespace) -> Outcome:
    clock = clock_from_arg(args.now)
    supervisor = None
    if args.supervisor_pin_file:
        supervisor = provision_commands.read_pin(args.supervisor_pin_file, confirm=False)

    def pin_source(tries_left: int) -> str:
        if args.pin_file is None:
            print(f"カードの暗証番号を入力してください（あと {tries_left} 回まで）", file=sys.stderr)
        return provision_commands.read_pin(args.pin_file, confirm=False)

    def progress(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    reader = card_session.reader_factory()
    if args.wait > 0 and not args.json:
        print(f"カードリーダー「{args.reader}」に登録カードを差し込んでください…", file=sys.stderr)
    res = asyncio.run(enroll(Path(args.tdir), reader, args.reader, pin_source, clock, hq=args.hq,
                             replace=args.replace, election=args.election, supervisor_pin=supervisor,
                             settings=EnrollSettings(card_wait_s=args.wait), progress=progress))
    text = (f"端末 {res.terminal} を投票所 {res.station}（選挙 {res.election_id}）に登録しました: {args.tdir}\n"
            f"  登録窓口: {res.enrolled_via}。名簿 第 {res.roll_version} 版を導入済み。"
            f"本部 {'、'.join(res.hq_addresses or (res.hq_address,))} と同期できます"
            f"（{res.timings.get('total_s', 0):.1f} 秒）。カードは使用済みになりました。")
    if res.replaced:
        text += f"\n  以前の端末ディレクトリは {res.replaced} に残しました（古い ID は失効しました）"
    if supervisor is None:
        text += "\n  注意: 投票管理者 PIN を指定していないため、保存データは暗号化されません（--supervisor-pin-file）"
    return Outcome({"code": "ok", "tdir": args.tdir, "terminal": res.terminal, "station": res.station,
                    "election": res.election_id, "card_serial": res.card_serial, "tls_serial": str(res.tls_serial),
                    "roll_version": res.roll_version, "hq_address": res.hq_address, "replaced": res.replaced,
                    "enrolled_via": res.enrolled_via, "hq_addresses": list(res.hq_addresses or (res.hq_address,)),
                    "timings": res.timings}, text)


def _cmd_provisioning(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    config = hq.config()
    addr = args.listen or enrollment_address(config.hq_address)
    try:
        host, port_s = addr.rsplit(":", 1)
        port = int(port_s)
    except ValueError:
        raise UsageError(f"--listen は ADDR:PORT の形です: {addr!r}", code="bad_listen") from None
    host = host.strip("[]")
    check_bind_address(host, args.dev_loopback)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    clock = clock_from_arg(args.now)

    async def main() -> list[str]:
        service = EnrollService(hq, clock)
        ep = await serve_enrollment(service, host, port)
        stop = asyncio.Event()  # before the ready line: a signal right after it must stop us
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        msg = {"code": "listening", "address": f"{host}:{ep.port}", "election": config.election_id}
        print(json.dumps(msg) if args.json else
              f"登録窓口を開きました: {host}:{ep.port}（選挙 {config.election_id}）。Ctrl-C で閉じます", flush=True)
        await stop.wait()
        await ep.stop()
        return service.enrolled

    enrolled = asyncio.run(main())
    return Outcome({"code": "stopped", "enrolled": enrolled},
                   f"登録窓口を閉じました（この間に登録した端末: {len(enrolled)} 台）")


def register(cli: Cli) -> None:
    p = cli.command("terminal", "enroll", _cmd_enroll,
                    "登録カードで端末を登録する（カード読取・暗証番号・本部で証明書発行・名簿の導入）")
    p.allow_abbrev = False  # ``--pin 1234`` must be an error, not ``--pin-file 1234``
    p.add_argument("tdir", metavar="TDIR")
    p.add_argument("--reader", required=True, help="PC/SC のリーダー名")
    p.add_argument("--pin-file", help="カードの暗証番号を 1 行目に書いたファイル（省略時は入力を求めます）")
    p.add_argument("--hq", metavar="ADDR:PORT", action="append",
                   help="本部の登録窓口（既定: カードの本部アドレスのホスト、ポートは同期用 + 1）。"
                        "本部ノードが複数なら繰り返して指定: つながらない窓口は飛ばして次を試します")
    p.add_argument("--replace", action="store_true", help="登録し直す（古い端末 ID は失効、古いディレクトリは残す）")
    p.add_argument("--election", help="想定する選挙 ID（指定すると別の選挙のカードを暗証番号の前に断る）")
    p.add_argument("--supervisor-pin-file", help="投票管理者 PIN のファイル（保存データの暗号化に使う）")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="カードが差し込まれるまで待つ秒数")
    p.add_argument("--now", help="ISO 8601（リハーサル用）")

    p = cli.command("hq", "provisioning", _cmd_provisioning,
                    "端末登録の窓口を開く（このコマンドが動いている間だけ、同期とは別のポート）")
    p.add_argument("hqdir", metavar="HQDIR")
    p.add_argument("--listen", metavar="ADDR:PORT", help="待受（既定: [hq] address のホスト、ポート + 1）")
    p.add_argument("--dev-loopback", action="store_true", help="開発用: ループバックでの待受を許す")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--now", help="ISO 8601（リハーサル用）")
