"""Commands of the HQ console and records: ``meibo console HQDIR``, ``meibo hq export`` and
``meibo hq daily-report``.

Exports and the daily report read hq.db (SQLite WAL: safe beside a serving HQ, never written
here) and replay it into a ``RecordsLedger``; which terminals are online comes from the serving
HQ's admin socket when it answers. CSV is UTF-8 with a BOM (Excel opens it as UTF-8) with
Japanese headers; JSON has English keys. Files are written atomically.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from appliance.csvsafe import excel_csv
from appliance.dirs import HqDir, write_atomic
from ground.errors import Problem, UsageError
from hq import records
from hq.admin_client import ask_hq
from hq.store import HqStore
from ui_kivy.console.font import FontMissing, cjk_font_path

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(args: argparse.Namespace) -> date:
    if getattr(args, "date", None):
        if not _DATE.match(args.date):
            raise UsageError(f"--date の形式が違います: {args.date!r}（例: 2027-04-25）", code="bad_date",
                             problems=[Problem("bad_date", "YYYY-MM-DD で指定してください", column="--date")])
        try:
            return date.fromisoformat(args.date)
        except ValueError:
            raise UsageError(f"--date の日付がありません: {args.date!r}", code="bad_date")
    return clock_from_arg(getattr(args, "now", None)).now().date()


def load_records(hq: HqDir, store_url: str | None = None) -> tuple[records.RecordsLedger, records.HqFacts, Any]:
    """Replay HQ's store; ask the serving HQ (if any) which terminals are online."""
    store = HqStore(hq, store_url=store_url)
    try:
        ledger = store.load(records.RecordsLedger)
        assert isinstance(ledger, records.RecordsLedger)
        reasons = {t: r.reason for t, r in store.registry.items() if r.revoked}
        online: set[str] = set()
        try:
            rep = ask_hq(hq, {"op": "report"})
            if rep:
                online = {s["terminal"] for s in rep.get("stations", []) if s.get("online")}
        except Exception:  # HQ busy or gone: export what is durable, all offline
            online = set()
        facts = records.facts_from_store(store, online=online, revoked_reasons=reasons)
        return ledger, facts, store.config
    finally:
        store.close()


def table_csv(t: records.Table) -> bytes:
    """UTF-8 with BOM (Excel), CRLF; clerk ids, carriers, notes from peers defused (appliance/csvsafe.py)."""
    return excel_csv(t.headers, t.csv_rows())


def table_json(t: records.Table, what: str, election: str) -> bytes:
    rows = [{k: r.get(k) for k in (*t.keys, *(["history"] if what == "alerts" else []))} for r in t.rows]
    return (json.dumps({"what": what, "election": election, "rows": rows}, ensure_ascii=False, indent=1)
            + "\n").encode("utf-8")


def _cmd_export(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    day = _day(args)
    ledger, facts, config = load_records(hq, args.store)
    t = records.export_table(args.what, ledger, config, facts, day)
    data = table_csv(t) if args.format == "csv" else table_json(t, args.what, config.election_id)
    if args.out:
        write_atomic(Path(args.out), data)
        return Outcome({"code": "ok", "what": args.what, "format": args.format, "rows": len(t.rows), "file": args.out},
                       f"{len(t.rows)} 行を書き出しました: {args.out}")
    if args.json:
        raise UsageError("--json と標準出力への書き出しは同時に使えません（--out FILE を指定してください）",
                         code="usage")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return Outcome({"code": "ok", "rows": len(t.rows)}, "")


def _cmd_daily_report(args: argparse.Namespace) -> Outcome:
    # lazy: pulls in fpdf2 (a few tenths of a second), which only this command needs
    from ui_kivy.console.daily_pdf import render_daily_report

    hq = HqDir(Path(args.hqdir)).require()
    if not args.out.lower().endswith(".pdf"):
        raise UsageError(f"--out は .pdf のファイル名にしてください: {args.out}", code="usage")
    day = _day(args)
    clock = clock_from_arg(args.now)
    ledger, facts, config = load_records(hq, args.store)
    rep = records.daily_report(ledger, config, facts, day, clock.now())
    try:
        font = cjk_font_path()
    except FontMissing as e:
        raise UsageError(str(e), code="font_missing")
    pages = render_daily_report(rep, Path(args.out), font)
    flagged = sum(1 for h in rep.hourly if h.flagged)
    return Outcome({"code": "ok", "file": args.out, "day": rep.day, "pages": pages, "stations": len(rep.station_counts),
                    "alerts": len(rep.alerts), "count_differences": flagged},
                   f"{rep.day} の日報を書き出しました: {args.out}（{pages} ページ、警告 {len(rep.alerts)} 件、"
                   f"名簿対照数と交付数の差 {flagged} 件）")


def _cmd_console(args: argparse.Namespace) -> Outcome:
    # lazy: the Kivy app; kept off the start-up of every other meibo command (and of --help)
    from ui_kivy.console.app import kivy_env, run_console

    hq = HqDir(Path(args.hqdir)).require()
    kivy_env(headless=False)  # before run_console imports Kivy

    how = asyncio.run(run_console(str(hq.root), args.listen, args.dev_loopback, args.now, store_url=args.store))
    return Outcome({"code": "stopped", "mode": how}, "本部の監視画面を終了しました")


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="URL", help="HQ's store: sqlite (hq.db), postgresql://... or "
                   "'host=... dbname=...' (default: [hq] store of election.toml, else hq.db)")


def register(cli: Cli) -> None:
    p = cli.command(None, "console", _cmd_console,
                    "本部の名簿対照監視画面（本部サーバが動いていなければこの画面で起動する）")
    p.add_argument("hqdir")
    p.add_argument("--listen", help="ADDR:PORT (default: [hq] address of election.toml)")
    p.add_argument("--dev-loopback", action="store_true", help="development only: allow a loopback address")
    p.add_argument("--now", help="fixed time (rehearsal)")
    _store_option(p)

    p = cli.command("hq", "export", _cmd_export, "受付・警告・端末・時刻別の記録を CSV（BOM 付き UTF-8）か JSON で書き出す")
    p.add_argument("hqdir")
    p.add_argument("--what", required=True, choices=list(records.EXPORT_KINDS))
    p.add_argument("--format", default="csv", choices=["csv", "json"])
    p.add_argument("--out", help="file (default: standard output)")
    p.add_argument("--date", help="YYYY-MM-DD: the day for 本日受付 (default: today)")
    p.add_argument("--now")
    _store_option(p)

    p = cli.command("hq", "daily-report", _cmd_daily_report, "投票所日報（PDF）を書き出す")
    p.add_argument("hqdir")
    p.add_argument("--out", required=True)
    p.add_argument("--date", help="YYYY-MM-DD (default: today)")
    p.add_argument("--now")
    _store_option(p)
