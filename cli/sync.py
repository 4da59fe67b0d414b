"""Commands of the sync layer: ``meibo hq serve|report|absentee|import-journal|alert|revoke`` and
``meibo terminal run|sync|export``.

HQ commands that change the ledger go through the running server's admin socket when HQ is
serving (so there is one writer and one order), and work on HQ's store directly when it is not
(hq.db, or the PostgreSQL store ``--store URL`` or election.toml's ``[hq] store`` names).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from ground.errors import UsageError
from appliance.dirs import HqDir, TerminalDir
from appliance.terminal import Terminal
from hardware.rig import TerminalHardware
from hq import backup as hq_backup
from hq import migrate_store as hq_migrate
from hq import ops as hq_ops
from hq.admin_client import ask_admin, ask_hq
from hq.terminals import revoke_terminal
from sync_protocol.client import SyncAgent, SyncSettings, until_acked
from sync_protocol.hq_nodes import checked_addresses
from hq.store import HqStore
from sync_protocol.journal_file import export_journal
from hq.listener import bound_port
from hq.server import ADMIN_SOCKET, HqNode, check_bind_address, serve


def _offline(hq: HqDir, store_url: str | None) -> tuple[HqStore, Any]:
    store = HqStore(hq, store_url=store_url)
    return store, store.load()


# --- hq serve -------------------------------------------------------------------------------

def freeze_startup_heap() -> None:
    """Once the ledger is loaded: collect, then ``gc.freeze()`` everything alive.

    The ledger holds a few huge containers (check-ins, ballots, the flag stream: millions of
    entries after an early-voting fortnight) and every full collection on the ingest path walks
    each entry; frozen, they are never walked again (bench restart measures the gain). Why this
    cannot leak: the frozen objects are exactly those alive after the ``gc.collect()`` (so no
    garbage is frozen), and freezing happens once. What is frozen either lives as long as the
    process (modules, the node, its store, TLS and CRL keeper, the ledger) or, when HQ replaces
    its ledger (a failed commit, a refused import), is acyclic (dicts of tuples, records and
    events that point at no ledger) and so is freed by reference counting like any object;
    only a reference cycle among frozen objects would outlive its use, and the bounded set
    frozen here makes none that is dropped while serving. Everything made later is collected
    as usual; a frozen container still keeps what it points at alive (it counts as a root)."""
    gc.collect()
    gc.freeze()


def _cmd_serve(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    config = hq.config()
    addr = args.listen or config.hq_address
    host, port_s = addr.rsplit(":", 1)
    host = host.strip("[]")
    check_bind_address(host, args.dev_loopback)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        standby = None
        if args.standby:  # no claim: a warm ledger until the leader's lock is free (hq/standby.py)
            from hq.standby import Standby  # lazy: psycopg loads only for a PostgreSQL store
            standby = Standby(hq, args.store)
            print(json.dumps({"code": "standby", "election": config.election_id}) if args.json
                  else f"本部サーバ待機中（主系の停止を待っています。選挙 {config.election_id}）", flush=True)
            await standby.wait_for_lead()
        node = HqNode(hq, store_url=args.store, standby=standby)
        freeze_startup_heap()
        runner = await serve(node, host, int(port_s))
        admin = await node.serve_admin()
        port = bound_port(runner)
        stop = asyncio.Event()  # before the ready line: a signal right after it must stop us
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        msg = {"code": "listening", "address": f"{host}:{port}", "election": config.election_id}
        print(json.dumps(msg) if args.json else f"本部サーバ待受中: {host}:{port}（選挙 {config.election_id}）",
              flush=True)
        await stop.wait()
        admin.close()
        await node.stop()
        await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            (hq.root / ADMIN_SOCKET).unlink()

    asyncio.run(main())
    return Outcome({"code": "stopped"}, "本部サーバを停止しました")


# --- hq report / absentee / import / alert / revoke ------------------------------------------

def _cmd_report(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    r = ask_hq(hq, {"op": "report"})
    if r is None:
        store, ledger = _offline(hq, args.store)
        try:
            r = hq_ops.report(store, ledger)
        finally:
            store.close()
    return Outcome(r, hq_ops.report_text(r))


def _cmd_absentee(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    req = {"op": "absentee", "voter": args.voter_id, "contests": args.contest or None, "now": args.now}
    out = ask_hq(hq, req)
    if out is None:
        store, ledger = _offline(hq, args.store)
        try:
            hq_ops.refuse_behind_leader(store)
            out, events = hq_ops.record_absentee(store, ledger, args.voter_id, args.contest or None,
                                                 clock_from_arg(args.now))
            store.commit(events)
        finally:
            store.close()
    text = f"不在者投票を記録しました: 選挙人 {out['voter']}  選挙 {', '.join(out['recorded'])}"
    if out.get("already_voted"):
        text += f"\n  投票済のため記録しなかった選挙: {', '.join(out['already_voted'])}"
    return Outcome(out, text)


def _cmd_import(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    path = Path(args.file).resolve()
    out = ask_hq(hq, {"op": "import", "path": str(path)})
    if out is None:
        store, ledger = _offline(hq, args.store)
        try:
            hq_ops.refuse_behind_leader(store)
            out, events = hq_ops.import_journal(ledger, path, store.record_alarm)
            store.commit(events, refusals=ledger.refusals_for(events))
        finally:
            store.close()
    refused = len(out.get("refused", ()))  # check-ins HQ did not believe (screen.py)
    return Outcome(out, f"端末 {out['terminal']} の受付記録を取り込みました: 新規 {out['applied']} 件、"
                        f"既着 {out['duplicates']} 件（本部保有 {out['acked_seq']} 番まで）"
                        + (f"。うち {refused} 件は投票済として数えていません（meibo hq report で確認してください）"
                           if refused else ""))


def _cmd_alert(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    req = {"op": "alert", "id": args.alert_id, "state": args.state, "who": args.who, "note": args.note or "",
           "now": args.now}
    out = ask_hq(hq, req)
    if out is None:
        store, ledger = _offline(hq, args.store)
        try:
            hq_ops.refuse_behind_leader(store)
            out = hq_ops.set_alert(store, ledger, args.alert_id, args.state, args.who, args.note or "",
                                   clock_from_arg(args.now))
        finally:
            store.close()
    return Outcome(out, f"警告 {args.alert_id} 番を「{args.state}」にしました（{args.who}）")


def _cmd_revoke(args: argparse.Namespace) -> Outcome:
    data = revoke_terminal(Path(args.hqdir), args.terminal, args.reason, clock_from_arg(args.now), args.now)
    return Outcome(data, f"端末 {args.terminal} を失効させました（理由: {args.reason}）。以後の接続と記録は拒否されます。")


# --- terminal run / sync / export ------------------------------------------------------------

def _cmd_run(args: argparse.Namespace) -> Outcome:
    tdir = TerminalDir(Path(args.tdir))
    hq_nodes = checked_addresses(args.hq) if args.hq else None  # before anything opens
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        term = Terminal.open(tdir, clock_from_arg(None))
        agent = SyncAgent(tdir, term, SyncSettings(verdict_budget_s=args.budget), hq_addresses=hq_nodes)
        local = await agent.serve_local()
        task = asyncio.create_task(agent.run())
        hw = None
        if args.modem or args.scanner:
            hw = TerminalHardware.from_paths(args.modem or [], args.scanner, config=term.config,
                                             clock=term.clock, health_check=_path_to_hq(agent))
            hw.on_status(lambda snap: agent.set_radio(radio_of(snap)))
            await hw.__aenter__()
        stop = asyncio.Event()  # before the ready line: a signal right after it must stop us
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(json.dumps({"code": "running", "terminal": term.terminal_id, "hq": agent.hq_address,
                          "hq_nodes": list(agent.nodes.addresses)})
              if args.json else f"端末 {term.terminal_id} 同期エージェント稼働中（本部 {'、'.join(agent.nodes.addresses)}）",
              flush=True)
        await stop.wait()
        if hw is not None:
            await hw.__aexit__(None, None, None)
        agent.stop()
        local.close()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            (tdir.root / "agent.sock").unlink()
        term.close()

    asyncio.run(main())
    return Outcome({"code": "stopped"}, "同期エージェントを停止しました")


def _path_to_hq(agent: SyncAgent) -> Any:
    """The dual-modem health check: is HQ reachable (the sync link is up)? Both modems share
    the terminal's one route, so the agent's link state stands for the active modem's path."""
    async def check(_modem: str) -> bool:
        return agent.online.is_set()

    return check


def radio_of(snap: Any) -> dict[str, Any]:
    """What HQ's console shows of a terminal's radio: the active modem's bars, carrier, APN."""
    active = next((m for m in snap.modems if m.name == snap.active_modem), snap.modems[0] if snap.modems else None)
    if active is None:
        return {}
    return {"modem": str(active.name), "bars": int(active.bars), "carrier": str(active.carrier or ""),
            "apn_ok": active.apn_check.value == "ok", "registered": bool(active.registered)}


def _cmd_sync(args: argparse.Namespace) -> Outcome:
    """Connect once, send everything pending, take HQ's flags, and stop."""
    tdir = TerminalDir(Path(args.tdir))
    hq_nodes = checked_addresses(args.hq) if args.hq else None

    async def main() -> dict[str, Any]:
        with Terminal.open(tdir, clock_from_arg(None)) as term:
            agent = SyncAgent(tdir, term, hq_addresses=hq_nodes)
            task = asyncio.create_task(agent.run())
            try:
                await asyncio.wait_for(agent.online.wait(), args.timeout)
                await asyncio.wait_for(until_acked(agent), args.timeout)
                await asyncio.sleep(0.2)  # flags pushed after the last ack
            except asyncio.TimeoutError:
                pass
            finally:
                agent.stop()
                await asyncio.gather(task, return_exceptions=True)
            st = agent.status()
            st["late_alerts"] = len(agent.late_alerts)
            return st

    st = asyncio.run(main())
    code = "ok" if st["pending"] == 0 and not st["refused"] else (st["refused"] or "hq_unreachable")
    text = (f"同期しました（未確認 {st['pending']} 件）" if code == "ok"
            else f"本部と同期できませんでした（{code}、未確認 {st['pending']} 件）")
    return Outcome({"code": code, **st}, text, 0 if code == "ok" else 1)


def _cmd_export(args: argparse.Namespace) -> Outcome:
    tdir = TerminalDir(Path(args.tdir))
    clock = clock_from_arg(args.now)
    with Terminal.open(tdir, clock) as term:
        info = export_journal(term.store, SigningKey(tdir.device_key.read_bytes()), term.config.election_id,
                              term.terminal_id, term.station.station_id, Path(args.out),
                              clock.now().isoformat(timespec="seconds"))
    return Outcome({"code": "ok", "file": args.out, **info},
                   f"受付記録 {info['events']} 件を書き出しました: {args.out}（本部で meibo hq import-journal）")


# --- hq backup / restore -----------------------------------------------------------------------

def _cmd_backup(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    m = hq_backup.backup(hq, Path(args.out), clock_from_arg(args.now), args.store, logical=args.logical)
    heads = m["terminal_heads"]
    db = m.get("database")
    how = (f"\n  データベースは pg_dump（{hq_backup.DUMP}、本部受付順 {db['hq_order_head']} 番まで）"
           if db else "")
    return Outcome({"code": "ok", "out": args.out, **m},
                   f"本部のバックアップを作成しました: {args.out}（{m['taken_at']}、ファイル {len(m['files'])} 件、"
                   f"端末 {len(heads)} 台・受付記録 {sum(heads.values())} 件）{how}")


def _cmd_restore(args: argparse.Namespace) -> Outcome:
    root = Path(args.hqdir)
    out = hq_backup.restore(Path(args.backup), root, clock_from_arg(args.now), _serving(root), args.store,
                            replace=args.replace)
    aside = f"\n  元のディレクトリは {out['moved_aside']} に残しました" if out["moved_aside"] else ""
    if out["format"] == "pg_dump":
        aside += (f"\n  データベースを pg_restore で復元し、目録と照合しました（本部受付順 {out['hq_order_head']} 番まで、"
                  f"主系エポック {out['epoch']}）")
    return Outcome(out, f"本部を {out['taken_at']} のバックアップから復元しました: {root}{aside}\n"
                        "  hq serve を起動すると、端末が失われた受付記録を再送し、投票済情報は全端末に配信し直されます。"
                        "本部の画面の「本部の記録が巻き戻っています」を確認してください")


def _serving(root: Path) -> bool:
    """HQ answers on its admin socket: a store it writes is never migrated or restored under."""
    return (root / ADMIN_SOCKET).exists() and asyncio.run(ask_admin(root / ADMIN_SOCKET, {"op": "report"})) is not None


def _cmd_migrate_store(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    if _serving(hq.root):
        raise UsageError("本部サーバが動いています。meibo hq serve を止めてから移行してください", code="hq_running")
    out = hq_migrate.migrate_store(hq, args.from_url, args.to_url)
    return Outcome(out, hq_migrate.migrate_text(out))


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="URL", help="HQ's store: sqlite (hq.db), postgresql://... or "
                   "'host=... dbname=...' (default: [hq] store of election.toml, else hq.db)")


def register(cli: Cli) -> None:
    p = cli.command("hq", "serve", _cmd_serve, "本部サーバを起動する（TLS 1.3 相互認証）")
    p.add_argument("hqdir")
    _store_option(p)
    p.add_argument("--listen", help="ADDR:PORT (default: [hq] address of election.toml)")
    p.add_argument("--dev-loopback", action="store_true", help="development only: allow a loopback address")
    p.add_argument("--standby", action="store_true",
                   help="PostgreSQL store only: follow the store and take over when the leading node is gone")
    p.add_argument("--verbose", action="store_true")

    p = cli.command("hq", "report", _cmd_report, "端末・二重投票の警告・複製警報の一覧")
    p.add_argument("hqdir")
    _store_option(p)

    p = cli.command("hq", "backup", _cmd_backup, "本部ディレクトリをバックアップする（稼働中でも一貫した写し）")
    p.add_argument("hqdir")
    _store_option(p)
    p.add_argument("--out", required=True, help="new, empty directory")
    p.add_argument("--logical", action="store_true", help="PostgreSQL store: export the rows as hq.db (restorable "
                   "onto SQLite or PostgreSQL) instead of a pg_dump")
    p.add_argument("--now")

    p = cli.command("hq", "restore", _cmd_restore, "バックアップから本部を復元する（本部サーバ停止中のみ）")
    p.add_argument("backup")
    p.add_argument("hqdir")
    p.add_argument("--store", metavar="URL", help="the store to restore HQ's records into: sqlite (hq.db) or "
                   "PostgreSQL (default: [hq] store of the backup's election.toml)")
    p.add_argument("--replace", action="store_true", help="PostgreSQL: replace a database that holds HQ's "
                   "records (they are dumped beside the HQ directory first)")
    p.add_argument("--now")

    p = cli.command("hq", "migrate-store", _cmd_migrate_store,
                    "本部記録を別の保存先（sqlite / PostgreSQL）へ移して照合する（本部サーバ停止中のみ）")
    p.add_argument("hqdir")
    p.add_argument("--from", dest="from_url", required=True, metavar="URL", help="sqlite (hq.db) or a PostgreSQL URL/DSN")
    p.add_argument("--to", dest="to_url", required=True, metavar="URL", help="an EMPTY store: sqlite or PostgreSQL")

    p = cli.command("hq", "absentee", _cmd_absentee, "不在者投票を記録して全端末に配信する")
    p.add_argument("hqdir")
    _store_option(p)
    p.add_argument("voter_id")
    p.add_argument("--contest", action="append", help="contest id (repeatable; default: all)")
    p.add_argument("--now")

    p = cli.command("hq", "import-journal", _cmd_import, "持ち込まれた端末の受付記録を取り込む")
    p.add_argument("hqdir")
    _store_option(p)
    p.add_argument("file")

    p = cli.command("hq", "alert", _cmd_alert, "二重投票の警告の対応状況を記録する")
    p.add_argument("hqdir")
    _store_option(p)
    p.add_argument("alert_id", type=int)
    p.add_argument("--state", required=True, choices=["open", "investigating", "resolved"])
    p.add_argument("--who", required=True)
    p.add_argument("--note")
    p.add_argument("--now")

    p = cli.command("hq", "revoke", _cmd_revoke, "端末を失効させる（即時）")
    p.add_argument("hqdir")
    p.add_argument("terminal")
    p.add_argument("--reason", required=True)
    p.add_argument("--now")

    p = cli.command("terminal", "run", _cmd_run, "端末の同期エージェントを起動する")
    p.add_argument("tdir")
    p.add_argument("--modem", action="append", help="LTE modem serial port (twice for a second carrier)")
    p.add_argument("--scanner", help="入場整理券 scanner serial port")
    p.add_argument("--hq", metavar="ADDR:PORT", action="append",
                   help="本部のアドレス（既定: 選挙設定の [hq] addresses）。本部ノードが複数なら繰り返して指定: "
                        "この順に試し、つながらなければ次へ（例: リンクエミュレータ）")
    p.add_argument("--budget", type=float, default=1.5, help="seconds to wait for HQ's verdict")
    p.add_argument("--verbose", action="store_true")

    p = cli.command("terminal", "sync", _cmd_sync, "本部と一度同期する")
    p.add_argument("tdir")
    p.add_argument("--hq", metavar="ADDR:PORT", action="append", help="本部のアドレス（繰り返し指定できます）")
    p.add_argument("--timeout", type=float, default=10.0)

    p = cli.command("terminal", "export", _cmd_export, "署名付き受付記録を書き出す（持ち込み用）")
    p.add_argument("tdir")
    p.add_argument("--out", required=True)
    p.add_argument("--now")
