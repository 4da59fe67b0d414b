"""``meibo provision …``: issue, list and cancel enrollment cards at HQ; run the virtual card.

Owns: the command-line edge of the card work (argument parsing, the PIN prompt, Japanese
output). The PIN comes from a prompt (getpass) or ``--pin-file``, never from an argument: an
argument would sit in the shell history and in ``ps`` for everyone to read.
``issue-card`` writes the card first and records it at HQ only after the card was finalised, so a
card pulled out half-way leaves nothing at HQ (and the card, still blank, can be written again).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from pathlib import Path

from appliance.dirs import HqDir
from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from ground.errors import ConfigInvalid, MeiboError, Problem, UsageError
from ground.model import ElectionConfig, StationId, TerminalId
from hardware.cardreader.base import CardAbsent, msg_card_absent
from hq import shared_files
from provisioning import card_session, cards
from provisioning.card_client import CardClient, Personalisation, PinInvalid, valid_pin
from provisioning.pki import PkiPaths, ca_fingerprint
from provisioning.virtual_card import VirtualCard, VirtualCardSettings

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def read_pin(pin_file: str | None, *, confirm: bool) -> str:
    """The PIN from ``--pin-file`` (first line) or typed twice at a hidden prompt."""
    if pin_file is not None:
        try:
            text = Path(pin_file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"暗証番号ファイルを読めません: {pin_file} ({e})", code="pin_file_unreadable") from None
        lines = text.splitlines()
        pin = lines[0].strip() if lines else ""
        if not valid_pin(pin):
            raise PinInvalid("暗証番号ファイルの 1 行目は 4〜12 桁の数字にしてください",
                             problems=[Problem("pin_invalid", "4〜12 桁の数字ではありません", file=pin_file, row=1)])
        return pin
    pin = getpass.getpass("カードの暗証番号（4〜12 桁の数字）: ")
    if not valid_pin(pin):
        raise PinInvalid("暗証番号は 4〜12 桁の数字です")
    if confirm and getpass.getpass("もう一度入力してください: ") != pin:
        raise PinInvalid("2 回の入力が一致しません", code="pin_mismatch")
    return pin


def _hq_config(hqdir: Path) -> ElectionConfig:
    hq = HqDir(hqdir)
    if not hq.config_path.exists():
        raise UsageError(f"HQ ディレクトリではありません（election.toml がありません）: {hqdir}", code="not_hq_dir")
    return hq.config()


def _fingerprint(hqdir: Path) -> bytes:
    if not PkiPaths(hqdir / "pki").ca_cert.exists():
        raise UsageError(f"選挙 CA の証明書がありません: {hqdir / 'pki' / 'ca.pem'}（先に meibo hq init を実行してください）",
                         code="no_election_ca")
    return ca_fingerprint(hqdir / "pki")


def cmd_issue_card(args: argparse.Namespace) -> Outcome:
    hqdir = Path(args.hqdir)
    clock = clock_from_arg(args.now)
    config = _hq_config(hqdir)
    terminal, station = args.terminal, args.station
    if not _ID.match(terminal):
        raise UsageError(f"端末 id は英数字と - _ . のみ、32 文字までです: {terminal!r}", code="bad_terminal_id")
    try:
        config.station(station)
    except KeyError:
        known = "、".join(s.station_id for s in config.stations)
        raise ConfigInvalid(f"投票所 {station!r} は election.toml にありません（登録済み: {known}）",
                            code="unknown_station",
                            problems=[Problem("unknown_station", f"投票所 {station!r} がありません",
                                              file=str(hqdir / "election.toml"), column="station.id")]) from None
    existing = cards.active_card_for(hqdir, terminal)
    if existing is not None:
        raise cards.CardStateConflict(
            f"端末 {terminal} には未使用の発行済みカード（{existing.serial}）があります。"
            "先に meibo provision cancel-card で取り消してください", code="terminal_has_card", serial=existing.serial)
    fingerprint = _fingerprint(hqdir)
    pin = read_pin(args.pin_file, confirm=True)

    reader = card_session.reader_factory()
    if not reader.card_present(args.reader):
        if args.wait > 0:
            print(f"カードリーダー「{args.reader}」に白紙のカードを差し込んでください…", file=sys.stderr)
        if not reader.wait_for_card(args.reader, args.wait):
            raise CardAbsent(msg_card_absent(args.reader), reader=args.reader)
    with reader.connect(args.reader) as ch:
        client = CardClient(ch)
        perso = Personalisation(config.election_id, config.hq_address, fingerprint, terminal, station)
        public_key = client.personalise(perso, pin)
        info = client.select()
    record = cards.CardRecord(
        serial=info.serial.hex().upper(), election_id=config.election_id,
        terminal_id=TerminalId(terminal), station_id=StationId(station),
        public_key=public_key.hex(), issued_at=clock.now().isoformat())
    cards.record_issued(hqdir, record)
    shared_files.publish(HqDir(hqdir))  # the card register to the other HQ node (hq/shared_files.py)
    st = config.station(station)
    return Outcome(
        {"code": "ok", **record.to_json()},
        f"カードを発行しました: シリアル {record.serial}\n"
        f"  端末 {terminal} / 投票所 {station}（{st.name}）/ 選挙 {config.election_id}\n"
        "  暗証番号は端末の登録のときに必要です。カードとは別に届けてください。")


def cmd_list_cards(args: argparse.Namespace) -> Outcome:
    hqdir = Path(args.hqdir)
    _hq_config(hqdir)
    recs = cards.load_cards(hqdir)
    lines = [f"カード台帳: {len(recs)} 枚"]
    for r in recs:
        extra = f"  理由: {r.cancel_reason}" if r.cancel_reason else ""
        lines.append(f"  {r.serial}  端末 {r.terminal_id:<8} 投票所 {r.station_id:<8} {r.state.ja:<5} "
                     f"発行 {r.issued_at}{extra}")
    return Outcome({"code": "ok", "cards": [r.to_json() for r in recs]}, "\n".join(lines))


def cmd_cancel_card(args: argparse.Namespace) -> Outcome:
    hqdir = Path(args.hqdir)
    _hq_config(hqdir)
    with shared_files.edit(HqDir(hqdir)):  # the other HQ node refuses the card too (hq/shared_files.py)
        rec = cards.cancel(hqdir, args.serial, args.reason, clock_from_arg(args.now))
    return Outcome({"code": "ok", **rec.to_json()},
                   f"カード {rec.serial}（端末 {rec.terminal_id}）を取り消しました。理由: {rec.cancel_reason}")


def cmd_virtual_card(args: argparse.Namespace) -> Outcome:
    state = Path(args.state)
    card = VirtualCard.from_file(state, os.urandom, port=args.vpcd_port, host=args.host,
                                 settings=VirtualCardSettings(connect_timeout_s=args.connect_timeout,
                                                              reconnect=True))
    serial = card.state.serial.hex().upper()
    print(f"仮想カード {serial}（{card.state.lifecycle.name.lower()}）を vpcd {args.host}:{args.vpcd_port} に"
          f"差し込みます。Ctrl-C で終了します。状態ファイル: {state}", flush=True)
    try:
        card.run_forever()
    except KeyboardInterrupt:
        pass
    except OSError as e:
        raise MeiboError(f"vpcd（{args.host}:{args.vpcd_port}）に接続できません: {e}。"
                         "pcscd と vsmartcard-vpcd が動いているか確かめてください", code="vpcd_unreachable") from None
    finally:
        card.stop()
    return Outcome({"code": "stopped", "serial": serial, "state": str(state)},
                   f"仮想カード {serial} を抜きました")


def register(cli: Cli) -> None:
    p = cli.command("provision", "issue-card", cmd_issue_card,
                    "登録カードを発行する（PC/SC リーダーの白紙カードに書き込み、台帳に記録）")
    # No abbreviations: ``--pin 1234`` must be an error, not taken as ``--pin-file 1234``.
    p.allow_abbrev = False
    p.add_argument("hqdir", metavar="HQDIR")
    p.add_argument("--terminal", required=True, help="端末 id（例: T01）")
    p.add_argument("--station", required=True, help="投票所 id（election.toml にあるもの）")
    p.add_argument("--reader", required=True, help="PC/SC のリーダー名")
    p.add_argument("--pin-file", help="暗証番号を 1 行目に書いたファイル（省略時は入力を求めます）")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="カードが差し込まれるまで待つ秒数（既定 0: すぐに確かめる）")
    p.add_argument("--now", help="発行日時（ISO 8601、リハーサル用）")

    p = cli.command("provision", "list-cards", cmd_list_cards, "登録カードの台帳を表示する")
    p.add_argument("hqdir", metavar="HQDIR")

    p = cli.command("provision", "cancel-card", cmd_cancel_card, "登録カードを取り消す（紛失・ロックなど）")
    p.add_argument("hqdir", metavar="HQDIR")
    p.add_argument("serial", metavar="SERIAL", help="カードのシリアル番号（16 桁の 16 進数）")
    p.add_argument("--reason", required=True, help="取り消しの理由")
    p.add_argument("--now", help="取り消し日時（ISO 8601）")

    p = cli.command("provision", "virtual-card", cmd_virtual_card,
                    "仮想カードを vpcd に差し込み、止めるまで動かす（デモ・研修・手動試験用）")
    p.add_argument("--vpcd-port", type=int, default=35963, help="vpcd の待ち受けポート（既定 35963）")
    p.add_argument("--host", default="127.0.0.1", help="vpcd のホスト（既定 127.0.0.1）")
    p.add_argument("--state", required=True, help="カードの中身を保存するファイル（なければ白紙のカード）")
    p.add_argument("--connect-timeout", type=float, default=30.0, help="vpcd に接続できるまで待つ秒数")
