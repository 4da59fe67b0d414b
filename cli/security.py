"""Commands: ``meibo compliance``, ``meibo terminal open|close|wipe|seal-card``, ``meibo hq crl-renew``.

- ``terminal open TDIR --pin-file F``: unseal the store's data key with the supervisor PIN
  (投票管理者) and keep it in tmpfs until ``terminal close`` or a reboot (appliance/atrest.py);
  records a ``station`` open entry in the journal.
- ``terminal close TDIR``: records the close entry, then forgets the key.
- ``terminal wipe TDIR [--force-after-export FILE]``: after the election (appliance/wipe.py, with
  sync_protocol/journal_file.py's check of FILE passed in). Only when HQ has acknowledged the
  whole journal, or when FILE verifies as this terminal's complete, signed export; prints the wipe
  record (JSON), which names only files verified gone.
- ``terminal seal-card TDIR --pin-file F --card-pin-file F2 --reader R``: seal the store's data
  key under the PIN *and* the enrolled card (appliance/atrest.py ``pin+card``); ``terminal open``
  then needs ``--reader`` and ``--card-pin-file`` too.
- ``compliance TDIR|HQDIR``: the 特定通信 self-check (hq/compliance.py).
- ``hq crl-renew HQDIR``: re-issue HQ's revocation list now (hq/crl_keeper.py). When
  HQ serves, through its admin socket (one writer; new handshakes use it at once); otherwise
  directly, with the lifetime HQ last served with.

The I/O edge: arguments in, ``Outcome`` out. Never imports the UI.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from appliance import atrest
from appliance.dirs import HqDir, TerminalDir
from appliance.terminal import Terminal
from appliance.wipe import wipe
from cli.base import Cli, Outcome
from ground.clock import JST, clock_from_arg
from ground.errors import Problem, UsageError
from hq import compliance
from hq.admin_client import ask_hq
from hq.crl_keeper import renew_offline
from provisioning.card_session import with_enrolled_card
from sync_protocol.journal_file import verify_complete_export


def read_pin_file(path: str) -> str:
    try:
        pin = Path(path).read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"PIN ファイルを読めません: {path} ({e})", code="pin_unreadable") from None
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise UsageError("PIN は 4〜12 桁の数字にしてください", code="pin_invalid",
                         problems=[Problem("pin_invalid", "4〜12 桁の数字ではありません", file=path, row=1)])
    return pin


# ---------------------------------------------------------------------------------------------
# open / close

def _card_for_open(tdir: TerminalDir, args: argparse.Namespace) -> tuple[str, str] | None:
    if not (args.reader or args.card_pin_file):
        return None
    if not (args.reader and args.card_pin_file):
        raise UsageError("カードで開設するときは --reader と --card-pin-file の両方を指定してください",
                         code="card_args_incomplete")
    return args.reader, read_pin_file(args.card_pin_file)


def _cmd_open(args: argparse.Namespace) -> Outcome:
    tdir = TerminalDir(Path(args.tdir))
    tdir.identity()  # not_enrolled / identity_corrupt first
    pin = read_pin_file(args.pin_file)
    if not atrest.is_protected(tdir):
        return Outcome({"code": "ok", "encrypted": False, "tdir": args.tdir},
                       "この端末の保存データは暗号化されていません（PIN なしで登録）。開設の手続きは不要です")
    card = _card_for_open(tdir, args)
    if card is None or atrest.card_challenge(tdir) is None:
        atrest.open_station(tdir, pin)  # CardRequired when only the card wrapping is left
    else:
        expected = atrest.card_challenge(tdir)
        assert expected is not None

        def use(serial: str, responder: atrest.CardResponder) -> None:
            if serial != expected[0]:  # said before any try is counted
                raise UsageError(f"封印に使ったカードではありません（カード {serial}、封印 {expected[0]}）",
                                 code="card_mismatch")
            atrest.open_station(tdir, pin, card=responder)

        with_enrolled_card(tdir, card[0], card[1], use)
    with Terminal.open(tdir, clock_from_arg(args.now)) as term:
        ev = term.record_station("open", args.clerk)
    return Outcome({"code": "ok", "encrypted": True, "tdir": args.tdir, "seq": ev.seq},
                   f"投票所を開設しました（端末 {term.terminal_id}）。閉鎖するまで、または再起動まで使えます")


def _cmd_close(args: argparse.Namespace) -> Outcome:
    tdir = TerminalDir(Path(args.tdir))
    tdir.identity()
    if not atrest.is_protected(tdir):
        return Outcome({"code": "ok", "encrypted": False, "was_open": False},
                       "この端末の保存データは暗号化されていません（閉鎖の手続きは不要です）")
    seq = None
    if atrest.unlocked_key(tdir) is not None:
        with Terminal.open(tdir, clock_from_arg(args.now)) as term:
            seq = term.record_station("close", args.clerk).seq
    was = atrest.close_station(tdir)
    if not was:
        return Outcome({"code": "already_closed", "was_open": False}, "投票所はすでに閉鎖されています")
    return Outcome({"code": "ok", "was_open": True, "seq": seq},
                   "投票所を閉鎖しました（データ鍵をメモリから消去しました）")


def _cmd_seal_card(args: argparse.Namespace) -> Outcome:
    tdir = TerminalDir(Path(args.tdir))
    tdir.identity()
    if not atrest.is_protected(tdir):
        raise UsageError("この端末は PIN 付きで登録されていません（保存データが暗号化されていません）",
                         code="not_protected")
    pin = read_pin_file(args.pin_file)
    card_pin = read_pin_file(args.card_pin_file)

    def use(serial: str, responder: atrest.CardResponder) -> list[str]:
        return atrest.add_card_wrapping(tdir, pin, serial, responder, drop_pin_only=not args.keep_pin_only)

    kinds = with_enrolled_card(tdir, args.reader, card_pin, use)
    text = ("保存データの鍵を PIN と登録カードで封印しました。"
            + ("以後は PIN だけでは開設できません（カードが必要です）" if "pin" not in kinds
               else "PIN だけでの開設も残しています（--keep-pin-only）"))
    return Outcome({"code": "ok", "wrappings": kinds, "card_required": "pin" not in kinds}, text)


# ---------------------------------------------------------------------------------------------
# wipe

def _cmd_wipe(args: argparse.Namespace) -> Outcome:
    record = wipe(TerminalDir(Path(args.tdir)), clock_from_arg(args.now),
                  Path(args.force_after_export) if args.force_after_export else None,
                  check_export=verify_complete_export)
    how = "書き出しを確認して強制消去" if record["forced"] else "本部の受領を確認して消去"
    text = (f"端末 {record['terminal']} のデータと鍵を消去しました（{how}）\n"
            + json.dumps(record, ensure_ascii=False, indent=1))
    return Outcome({"code": "ok", **record}, text)


# ---------------------------------------------------------------------------------------------
# compliance

def _cmd_compliance(args: argparse.Namespace) -> Outcome:
    report = compliance.run(Path(args.dir), clock_from_arg(args.now), Path(args.proc_root))
    return Outcome(report, compliance.render(report), 0 if report["code"] == "ok" else 1)


# ---------------------------------------------------------------------------------------------
# hq crl-renew

def _cmd_crl_renew(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    out = ask_hq(hq, {"op": "crl_renew", "now": args.now})
    if out is None:
        out = renew_offline(hq, clock_from_arg(args.now))
    nu = datetime.fromisoformat(str(out["next_update"])).astimezone(JST)
    where = "稼働中の本部サーバで" if out.get("via") == "hq" else "本部サーバ停止中のため直接"
    return Outcome(out, f"失効リストを再発行しました（{where}。失効 {out['revoked']} 件、"
                        f"有効期限 {nu:%Y-%m-%d %H:%M}）")


def register(cli: Cli) -> None:
    p = cli.command("hq", "crl-renew", _cmd_crl_renew, "失効リスト（CRL）をいま再発行する（本部稼働中でも可）")
    p.add_argument("hqdir")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "open", _cmd_open, "投票所を開設する（投票管理者 PIN で保存データの鍵を開く）")
    p.add_argument("tdir")
    p.add_argument("--pin-file", required=True, help="投票管理者 PIN を書いたファイル")
    p.add_argument("--clerk", help="開設した担当者ID")
    p.add_argument("--now", help="ISO 8601 (Japan time)")
    p.add_argument("--reader", help="登録カードを差したリーダー（PIN と登録カードで封印した端末）")
    p.add_argument("--card-pin-file", help="登録カードの暗証番号を書いたファイル")

    p = cli.command("terminal", "seal-card", _cmd_seal_card,
                    "保存データの鍵を PIN と登録カードで封印する（盗まれたディスクの PIN 総当たりを防ぐ）")
    p.add_argument("tdir")
    p.add_argument("--pin-file", required=True, help="投票管理者 PIN を書いたファイル")
    p.add_argument("--card-pin-file", required=True, help="登録カードの暗証番号を書いたファイル")
    p.add_argument("--reader", required=True, help="PC/SC のリーダー名")
    p.add_argument("--keep-pin-only", action="store_true", help="PIN だけでの開設も残す（移行期間）")

    p = cli.command("terminal", "close", _cmd_close, "投票所を閉鎖する（保存データの鍵をメモリから消す）")
    p.add_argument("tdir")
    p.add_argument("--clerk", help="閉鎖した担当者ID")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "wipe", _cmd_wipe, "選挙後に端末のデータと鍵を消去する（本部の受領確認後）")
    p.add_argument("tdir")
    p.add_argument("--force-after-export", metavar="FILE",
                   help="本部の受領を確認できないとき: この端末の完全な書き出し（meibo terminal export）")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command(None, "compliance", _cmd_compliance, "特定通信の 4 条件を自己点検する（通信は行わない）")
    p.add_argument("dir", metavar="TDIR|HQDIR")
    p.add_argument("--proc-root", default="/proc", help=argparse.SUPPRESS)
    p.add_argument("--now", help="ISO 8601 (Japan time)")
