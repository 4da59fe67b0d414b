"""Commands: ``meibo compliance``, ``meibo terminal open|close|wipe|seal-card``, ``meibo hq crl-renew``.

- ``terminal open TDIR --pin-file F``: unseal the store's data key with the supervisor PIN
  (投票管理者) and keep it in tmpfs until ``terminal close`` or a reboot (appliance/atrest.py);
  records a ``station`` open entry in the journal.
- ``terminal close TDIR``: records the close entry, then forgets the key.
- ``terminal wipe TDIR [--force-after-export FILE]``: after the election. Only when HQ has
  acknowledged the whole journal (``sync.acked_seq`` = journal head), or when FILE verifies as
  this terminal's complete, signed export. Destroys the sealed key, the runtime key, the store
  (and its WAL/SHM), the TLS and device keys, and prints a wipe record (JSON). The record lists
  as ``destroyed`` only files verified gone afterwards; any file that could not be shredded goes
  under ``not_destroyed`` / ``not_overwritten`` and the wipe is refused (``wipe_incomplete``).
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
import hashlib
import json
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

from appliance import atrest
from cli.base import Cli, Outcome
from ground.clock import Clock, clock_from_arg
from appliance.dirs import TerminalDir, write_atomic
from ground.errors import ApplianceError, Problem, UsageError
from ground.events import genesis_hash
from appliance.terminal import Terminal
from provisioning.card_session import with_enrolled_card

META_ACKED = "sync.acked_seq"  # written by sync_protocol/client.py when HQ acknowledges


class WipeRefused(ApplianceError):
    code = "wipe_refused"


class ExportMismatch(ApplianceError):
    code = "export_mismatch"


class WipeIncomplete(ApplianceError):
    """Something could not be shredded: the wipe record lists it under ``not_destroyed`` /
    ``not_overwritten``; fix the cause (permissions, a read-only or failing disk) and remove it."""

    code = "wipe_incomplete"


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

def verify_complete_export(path: Path, tdir: TerminalDir, term: Terminal) -> dict[str, Any]:
    """FILE must be this terminal's export, signed by its device key, chained from genesis to
    the journal's current head. Raises ``ExportMismatch`` (one message per kind of doubt)."""
    from ground.errors import MeiboError
    from sync_protocol.codec import FrameType
    from sync_protocol.crypto import verify_batch
    from sync_protocol.journal_file import read_journal_file
    from ground.events import chain_hash

    head = term.head()
    election, terminal = term.config.election_id, term.terminal_id
    try:
        header, frames = read_journal_file(path)
        if header.get("election") != election or header.get("terminal") != terminal:
            raise ExportMismatch(f"{path}: 別の選挙・端末の書き出しです（{header.get('election')} / {header.get('terminal')}）")
        pub = tdir.device_pub.read_bytes()
        seq, h = 0, genesis_hash(election, terminal)
        for fr in frames:
            if fr.type is not FrameType.BATCH:
                raise ExportMismatch(f"{path}: 受付記録以外のブロックがあります")
            first, last = int(fr.header["first"]), int(fr.header["last"])
            prev, fhead = bytes.fromhex(fr.header["prev"]), bytes.fromhex(fr.header["head"])
            if first != seq + 1 or prev != h or not fr.events or fr.events[0].seq != first \
                    or fr.events[-1].seq != last:
                raise ExportMismatch(f"{path}: 受付記録が {seq + 1} 番からつながっていません")
            x = prev
            for ev in fr.events:
                if ev.terminal != terminal:
                    raise ExportMismatch(f"{path}: 別の端末の記録が混ざっています")
                x = chain_hash(x, ev.encode())
            if x != fhead:
                raise ExportMismatch(f"{path}: 記録が署名の後で変えられています")
            verify_batch(pub, bytes.fromhex(fr.header["sig"]), election, terminal, first, last, prev, fhead)
            seq, h = last, fhead
    except ExportMismatch:
        raise
    except MeiboError as e:
        raise ExportMismatch(f"{path}: この端末の書き出しとして確認できません（{e.message}）") from None
    except (KeyError, ValueError, TypeError, OSError):
        raise ExportMismatch(f"{path}: この端末の書き出しとして確認できません") from None
    if seq != head.seq or h != head.hash:
        raise ExportMismatch(f"{path}: 書き出しは {seq} 番までで、端末の受付記録（{head.seq} 番まで）の全部ではありません")
    return {"file": str(path), "events": seq, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@dataclass
class _Shredded:
    """What the wipe record may claim: only files verified gone afterwards count as destroyed."""

    destroyed: list[str] = field(default_factory=list)
    not_destroyed: list[dict[str, str]] = field(default_factory=list)  # still there afterwards
    not_overwritten: list[dict[str, str]] = field(default_factory=list)  # gone, but not overwritten first

    def settle(self, path: Path, error: OSError | None, *, overwrite_error: OSError | None = None) -> None:
        if os.path.lexists(path):  # the claim is checked, not assumed
            self.not_destroyed.append({"file": str(path), "error": _why(error) or "消去後もファイルが残っています"})
            return
        self.destroyed.append(str(path))
        if overwrite_error is not None:
            self.not_overwritten.append({"file": str(path), "error": _why(overwrite_error)})


def _why(e: OSError | None) -> str:
    return "" if e is None else (e.strerror or str(e))


def _shred(path: Path, out: _Shredded) -> None:
    """Overwrite a file with zeros, fsync, unlink, and record what really happened. (On flash the
    old blocks may survive: that is why the store is encrypted and the key is destroyed first.)
    A missing file is not recorded; a failed overwrite still unlinks (better gone than kept) but is
    recorded, never passed over."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as e:
        out.settle(path, e)
        return
    overwrite_error: OSError | None = None
    try:
        with open(path, "r+b") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 20)
                f.write(b"\0" * n)
                left -= n
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        overwrite_error = e
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        out.settle(path, e)
        return
    out.settle(path, None, overwrite_error=overwrite_error)


def wipe(tdir: TerminalDir, clock: Clock, export: Path | None = None) -> dict[str, Any]:
    ident = tdir.identity()
    with Terminal.open(tdir, clock) as term:  # station_closed when it is not open
        head = term.head()
        acked = int(term.store.get_meta(META_ACKED, "0") or 0)
        verified = None
        if export is not None:
            verified = verify_complete_export(export, tdir, term)
        elif acked != head.seq:
            raise WipeRefused(f"本部が受付記録の全部を受け取ったことを確認できません（本部確認 {acked} 番 / 記録 {head.seq} 番）。"
                              "同期するか、meibo terminal export で書き出して --force-after-export FILE を指定してください",
                              acked_seq=acked, head_seq=head.seq)
        encrypted = term.store.encrypted
    record: dict[str, Any] = {
        "terminal": ident.terminal_id, "station": ident.station_id, "election": ident.election_id,
        "wiped_at": clock.now().isoformat(timespec="seconds"), "journal_head_seq": head.seq,
        "journal_head_hash": head.hash.hex(), "acked_seq": acked, "forced": export is not None,
        "encrypted": encrypted,
    }
    if verified is not None:
        record["export"] = verified
    out = _Shredded()
    # the key first: once it is gone, whatever of the store survives on flash is unreadable
    try:
        atrest.close_station(tdir)
    except OSError as e:  # the runtime key in tmpfs: named in the record, the rest still goes
        out.not_destroyed.append({"file": str(e.filename or "実行時の鍵"), "error": _why(e)})
    sealed = atrest.sealed_path(tdir)
    try:
        if atrest.destroy_sealed(tdir):
            out.settle(sealed, None)
    except OSError as e:
        out.settle(sealed, e)
    for suffix in ("", "-wal", "-shm", "-journal"):
        _shred(Path(str(tdir.store_path) + suffix), out)
    for p in [tdir.device_key, tdir.root / "keys" / "supervisor.pin", *sorted(tdir.tls.glob("*"))]:
        if p.is_file():
            _shred(p, out)
    record["destroyed"] = out.destroyed
    record["not_destroyed"] = out.not_destroyed
    record["not_overwritten"] = out.not_overwritten
    record["complete"] = not out.not_destroyed and not out.not_overwritten
    rec_path = tdir.root / "wipe-record.json"
    write_atomic(rec_path, json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
    if not record["complete"]:
        parts = [f"{n['file']}（{n['error']}）" for n in out.not_destroyed]
        parts += [f"{n['file']}（上書きできずに削除: {n['error']}）" for n in out.not_overwritten]
        raise WipeIncomplete("次のファイルを確実に消去できませんでした: " + "、".join(parts)
                             + f"。原因を取り除いて消去し直してください（記録: {rec_path}）",
                             not_destroyed=[n["file"] for n in out.not_destroyed],
                             not_overwritten=[n["file"] for n in out.not_overwritten], record=str(rec_path))
    return record


def _cmd_wipe(args: argparse.Namespace) -> Outcome:
    record = wipe(TerminalDir(Path(args.tdir)), clock_from_arg(args.now),
                  Path(args.force_after_export) if args.force_after_export else None)
    how = "書き出しを確認して強制消去" if record["forced"] else "本部の受領を確認して消去"
    text = (f"端末 {record['terminal']} のデータと鍵を消去しました（{how}）\n"
            + json.dumps(record, ensure_ascii=False, indent=1))
    return Outcome({"code": "ok", **record}, text)


# ---------------------------------------------------------------------------------------------
# compliance

def _cmd_compliance(args: argparse.Namespace) -> Outcome:
    from hq import compliance

    report = compliance.run(Path(args.dir), clock_from_arg(args.now), Path(args.proc_root))
    return Outcome(report, compliance.render(report), 0 if report["code"] == "ok" else 1)


# ---------------------------------------------------------------------------------------------
# hq crl-renew

def _cmd_crl_renew(args: argparse.Namespace) -> Outcome:
    from datetime import datetime

    from ground.clock import JST
    from appliance.dirs import HqDir
    from hq.admin_client import ask_hq
    from hq.crl_keeper import renew_offline

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
