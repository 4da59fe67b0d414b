"""Commands of the election-day procedures (issue 10). Terminal side: ``meibo terminal tentative |
open-check | close-station | count | install-zaigai | zaigai-checkin``; HQ side: ``meibo hq
zaigai-import | zaigai-publish | absentee-status | reports | paper-backup``. The I/O edge: arguments in, ``Outcome`` out (Japanese
text, ``--json`` with stable English codes). The rules live in appliance/procedures.py,
hq/procedures.py and hq/paper_backup.py. Never imports the UI.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date
from pathlib import Path
from typing import Any

from appliance import journal, procedures as P
from appliance.dirs import HqDir, TerminalDir, write_atomic
from appliance.rollpkg import SIGNATURE_MESSAGE
from appliance.store import Store
from appliance.terminal import Terminal
from appliance.zaigaipkg import LIMITS, open_zaigai_package
from cli.base import Cli, Outcome
from ground.clock import JST, clock_from_arg, parse_now
from ground.errors import ApplianceError, RollSignatureInvalid, UsageError
from ground.events import EventKind
from hq import ops as hq_ops, paper_backup as PB, procedures as H
from hq.admin_client import ask_hq
from hq.roll import import_zaigai, open_roll_db, publish_zaigai
from hq.store import HqStore
from sync_protocol.client import SyncAgent, SyncSettings


def _open(args: argparse.Namespace) -> Terminal:
    return Terminal.open(TerminalDir(Path(args.tdir)), clock_from_arg(getattr(args, "now", None)))


def _date_arg(text: str | None, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what}が読めません: {text!r}（例: 1980-04-01）", code="date_invalid")


# --- terminal -------------------------------------------------------------------------------

def _cmd_tentative(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        declared = None
        if args.declared_name:
            declared = P.Declared(args.declared_name, _date_arg(args.declared_birth, "申立ての生年月日"),
                                  args.declared_address or "")
        rec = P.record_tentative(term, contests=args.contest or list(term.config.contest_ids), reason=args.reason,
                                 decided_by=args.decided_by, clerk=args.clerk, voter_id=args.voter,
                                 declared=declared, note=args.note or "")
        text = rec.text(term.config)
    return Outcome({"code": "ok", "kind": "tentative", "seq": rec.seq, "voter": rec.voter,
                    "declared": declared is not None, "reason": rec.reason.value, "contests": list(rec.contests),
                    "decided_by": rec.decided_by, "at": rec.at.isoformat()}, text)


async def _hq_view(term: Terminal, timeout: float) -> tuple[P.VersionInfo | None, str | None]:
    agent = SyncAgent(term.tdir, term, SyncSettings(backoff_initial_s=0.1, backoff_max_s=0.5))
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
    if agent.hq_roll_version is None:
        return None, agent.refused
    # WELCOME carries HQ's roll version; HELLO was accepted, so HQ serves this election. The
    # contest set is on the wire once WELCOME carries it (docs/procedures.md): until then None,
    # and contests are not compared.
    contests = getattr(agent, "hq_contests", None)
    return P.VersionInfo(term.config.election_id, tuple(contests) if contests is not None else None,
                         agent.hq_roll_version, getattr(agent, "hq_zaigai_version", None)), None


def _cmd_open_check(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        local = P.local_versions(term)
        hq, refused = (None, None) if args.offline else asyncio.run(_hq_view(term, args.timeout))
        chk = P.opening_check(local, hq, refused=refused)
        text = chk.text()
        opened = False
        if args.open_as and chk.status != "mismatch":
            P.open_station_day(term, args.open_as)
            opened = True
            text += "\n投票所を開設しました" + ("（本部と未照合: 接続後に再確認してください）" if chk.status == "unchecked" else "")
        elif args.open_as:
            text += "\n一致しないため開設していません"
    data: dict[str, Any] = {"code": "ok" if chk.ok else ("version_mismatch" if chk.status == "mismatch" else "unchecked"),
                            "status": chk.status, "problems": list(chk.codes), "opened": opened,
                            "local": chk.local.__dict__, "hq": chk.hq.__dict__ if chk.hq else None}
    return Outcome(data, text, 0 if chk.status != "mismatch" else 1)


def _parse_final(items: list[str] | None) -> dict[str, tuple[int | None, int, int]]:
    out: dict[str, tuple[int | None, int, int]] = {}
    for it in items or []:
        parts = it.split(":")
        try:
            if len(parts) == 4:
                out[parts[0]] = (int(parts[1]) if parts[1] else None, int(parts[2]), int(parts[3]))
            elif len(parts) == 3:
                out[parts[0]] = (None, int(parts[1]), int(parts[2]))
            else:
                raise ValueError
        except ValueError:
            raise UsageError(f"--final は 選挙:受領数:交付数:残数 の形で指定してください: {it!r}", code="usage")
    return out


def _cmd_close(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        figs = P.close_station_day(term, args.clerk, _parse_final(args.final))
        text = "投票所を閉鎖しました（以後の受付はできません。再開は開設の操作で）\n" + figs.text(term.config)
    return Outcome({"code": "ok", "station": figs.station, "day": figs.day.isoformat(), "voters": figs.voters,
                    "tentative": figs.tentative, "proxy": figs.proxy, "braille": figs.braille, "zaigai": figs.zaigai,
                    "oath_reasons": figs.oath_reasons,
                    "contests": [{**c.__dict__, "difference": c.difference} for c in figs.contests],
                    "flagged": [c.contest for c in figs.flagged]}, text, 0)


def _cmd_count(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        if args.contest not in term.config.contest_ids:
            raise UsageError(f"選挙 {args.contest} はこの選挙にありません", code="contest_unknown")
        if not 0 <= args.hour <= 23 or not 0 <= args.issued <= 1_000_000:
            raise UsageError("時（0〜23）または交付数が不正です", code="count_invalid")
        with term.store.atomic() as conn:
            ev = journal.append(term.store, conn, EventKind.COUNT, {"contest": args.contest, "hour": args.hour,
                                                                    "issued": args.issued, "clerk": args.clerk}, term.hlc)
        figs = P.station_figures(term)
    row = next(c for c in figs.contests if c.contest == args.contest)
    diff = row.issued - row.matched if row.issued is not None else None
    text = (f"交付数を記録しました: {row.name} {args.hour}時 交付数 {args.issued}（記録番号 {ev.seq}）\n"
            f"  本日の名簿対照数（現在） {row.matched}")
    if diff:
        text += f"  差 {diff:+d}: 確認してください"
    return Outcome({"code": "ok", "seq": ev.seq, "contest": args.contest, "hour": args.hour, "issued": args.issued,
                    "matched_now": row.matched}, text)


def _cmd_install_zaigai(args: argparse.Namespace) -> Outcome:
    t = TerminalDir(Path(args.tdir))
    election_id = t.identity().election_id if t.identity_path.exists() else t.config().election_id
    try:
        pub = t.hq_roll_pub.read_bytes()
    except OSError:
        raise UsageError(f"本部の名簿署名用公開鍵がありません: {t.hq_roll_pub}", code="hq_key_missing")
    path = Path(args.file)
    try:
        if path.stat().st_size > LIMITS.max_package_bytes:
            raise RollSignatureInvalid(SIGNATURE_MESSAGE)
        data = path.read_bytes()
    except OSError as e:
        raise ApplianceError(f"在外選挙人名簿パッケージを読めません: {path} ({e.strerror})", code="zaigai_unreadable")
    # Verified and decoded completely before the store is even opened (opening may migrate it).
    pkg = open_zaigai_package(data, pub)
    store = Store(t.store_path)
    try:
        res = P.install_zaigai(store, pkg, election_id)
    finally:
        store.close()
    where = "期日前投票所" + (f"と指定投票所 {'、'.join(res.designated)}" if res.designated else "")
    text = (f"在外選挙人名簿 第 {res.version} 版を導入しました: {res.voters} 人（受付できる投票所: {where}）"
            f"（前の版: {res.previous_version if res.previous_version is not None else 'なし'}）")
    return Outcome({"code": "ok", "version": res.version, "previous_version": res.previous_version,
                    "voters": res.voters, "designated": list(res.designated), "digest": res.digest,
                    "election_id": pkg.manifest.election_id}, text)


def _cmd_zaigai_checkin(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        marks = P.checkin_marks(term.station, oath_reason=args.oath_reason, proxy=args.proxy, braille=args.braille)
        res = P.zaigai_checkin(term, args.zaigai_id, args.card, args.clerk, marks)
        text = res.text(term.config)
    code = "ok" if res.handed and not any("投票済" in why for _, why in res.refused) else (
        "already_voted" if any("投票済" in why for _, why in res.refused) else "not_eligible")
    return Outcome({"code": code, "seq": res.seq, "voter": res.voter.voter_key, "handed": list(res.handed),
                    "refused": [{"contest": c, "reason": r} for c, r in res.refused]}, text,
                   0 if res.handed else 1)


# --- HQ -------------------------------------------------------------------------------------

def _cmd_hq_zaigai_import(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    res = import_zaigai(hq, Path(args.file), args.designated or [], clock_from_arg(args.now))
    where = "期日前投票所" + (f"と指定投票所 {'、'.join(res.designated)}" if res.designated else "")
    return Outcome({"code": "ok", "rows": res.rows, "registered": res.registered, "designated": list(res.designated),
                    "source_sha256": res.source_sha256},
                   f"在外選挙人名簿を本部に取り込みました: {res.rows} 人（登録 {res.registered}、抹消 {res.rows - res.registered}）、"
                   f"受付できる投票所: {where}。端末に配るには meibo hq zaigai-publish を実行してください。")


def _cmd_hq_zaigai_publish(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    res = publish_zaigai(hq, Path(args.out) if args.out else None, clock_from_arg(args.now))
    m = res.manifest
    out = args.out or str(res.path)
    designated = list((m.extra or {}).get("designated", []))
    return Outcome({"code": "ok", **m.as_json(), "designated": designated, "size": res.size, "out": out,
                    "copy": str(res.path)},
                   f"在外選挙人名簿 第 {m.version} 版（{m.row_count} 人、{res.size} バイト）を署名して書き出しました: {out}\n"
                   f"本体 SHA-256: {m.body_sha256}\n端末には meibo terminal install-zaigai で導入します。")


def _cmd_absentee_status(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    clock = clock_from_arg(args.now)
    store = HqStore(hq, store_url=args.store)
    try:
        if ask_hq(hq, {"op": "leader"}) is None:  # no node serving here: this command writes itself
            hq_ops.refuse_behind_leader(store)
        ledger = store.load()
        if args.state == "accepted":  # validate before the ballot is recorded
            cur = H.absentee_current(store, args.voter_id).get((args.voter_id, args.contest))
            holder = ledger.holder(args.voter_id, args.contest)
            H.next_absentee_state(cur["state"] if cur else None, "accepted",
                                  already_voted_at=None if holder is None else f"{holder.station}")
            out = ask_hq(hq, {"op": "absentee", "voter": args.voter_id, "contests": [args.contest], "now": args.now})
            if out is None:
                out, events = hq_ops.record_absentee(store, ledger, args.voter_id, [args.contest], clock)
                store.commit(events)
        res = H.set_absentee_status(store, ledger, store.config, args.voter_id, args.contest, args.state,
                                    args.who, clock.now(), args.note or "")
        # every terminal learns it through the voted-flag stream (a warning there, never a block)
        notice = {"op": "absentee_notice", "voter": args.voter_id, "contests": [args.contest],
                  "state": args.state, "now": args.now}
        if ask_hq(hq, notice) is None:
            ledger = store.load()
            _, events = hq_ops.record_absentee_notice(ledger, args.voter_id, [args.contest], args.state, clock)
            store.commit(events)
    finally:
        store.close()
    text = (f"不在者投票の状態を記録しました: 選挙人 {args.voter_id}  選挙 {args.contest}  "
            f"{H.ABSENTEE_STATE_JA.get(res['previous'] or '', '記録なし')} → {H.ABSENTEE_STATE_JA[res['state']]}")
    if res["record_ballot"]:
        text += "\n  受理: 投票済として全端末に配信されます"
    return Outcome(res, text)


def _load_hq(hq: HqDir, store_url: str | None = None) -> tuple[Any, Any, list[Any], Any]:
    store = HqStore(hq, store_url=store_url)
    try:
        ledger = store.load()
        events = H.events_of_kinds(store)
        config = store.config
    finally:
        store.close()
    roll = open_roll_db(hq)
    try:
        facts = H.roll_facts(roll.conn)
    finally:
        roll.close()
    return ledger, config, events, facts


def _cmd_reports(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    hours: tuple[int, ...] = H.DEFAULT_REPORT_HOURS
    if args.hours:
        try:
            hours = tuple(int(h) for h in args.hours.split(","))
        except ValueError:
            raise UsageError(f"--hours は 10,11,14 のように時を並べてください: {args.hours!r}", code="usage")
        if any(not 0 <= h <= 24 for h in hours):
            raise UsageError(f"--hours の時が範囲外です: {args.hours!r}", code="usage")
    ledger, config, events, roll = _load_hq(hq, args.store)
    table = H.build_report(args.what, ledger, config, events, roll, hours)
    data = H.table_csv(table) if args.format == "csv" else H.table_json(table, args.what, config.election_id)
    flagged = sum(1 for r in table.rows if r.get("flagged"))
    if args.out:
        write_atomic(Path(args.out), data)
        text = f"{H.REPORT_JA[args.what]}を書き出しました: {args.out}（{len(table.rows)} 行）"
    else:
        text = data.decode("utf-8-sig").rstrip("\n")
    if flagged:
        text += f"\n要確認（差がある行）: {flagged} 行"
    return Outcome({"code": "ok", "what": args.what, "rows": len(table.rows), "flagged": flagged,
                    "out": args.out, "table": [{k: r.get(k) for k in table.keys} for r in table.rows]}, text)


def _cmd_paper_backup(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    as_of = parse_now(args.as_of) if args.as_of else clock_from_arg(args.now).now()
    store = HqStore(hq, store_url=args.store)
    try:
        ledger = store.load()
        config = store.config
    finally:
        store.close()
    roll = open_roll_db(hq)
    try:
        rows = PB.roll_rows(roll.conn)
    finally:
        roll.close()
    if not rows:
        raise UsageError("名簿がまだ取り込まれていません（先に meibo roll import を実行してください）", code="roll_not_imported")
    ex = PB.build_extract(config, args.station, rows, ledger, as_of, args.district)
    pages = PB.render_pdf(ex, Path(args.out), Path(args.font) if args.font else PB.DEFAULT_FONT)
    return Outcome({"code": "ok", "station": ex.station, "district": ex.district, "voters": len(ex.rows),
                    "voted": ex.voted, "as_of": as_of.astimezone(JST).isoformat(timespec="seconds"),
                    "pages": pages, "out": args.out},
                   f"名簿抄本（紙の予備）を作成しました: {args.out}（{ex.station_name}、{len(ex.rows)} 人、"
                   f"うち投票済 {ex.voted} 人、{as_of:%m月%d日 %H:%M} 現在、{pages} 頁）")


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="URL", help="HQ's store: sqlite (hq.db), postgresql://... or "
                   "'host=... dbname=...' (default: [hq] store of election.toml, else hq.db)")


def register(cli: Cli) -> None:
    p = cli.command("terminal", "tentative", _cmd_tentative, "仮投票を記録する（公職選挙法50条。通常の受付ではない）")
    p.add_argument("tdir")
    p.add_argument("--voter", help="選挙人番号（名簿で確認できた方）")
    p.add_argument("--declared-name", help="名簿で確認できないとき: 本人の申し立てる氏名")
    p.add_argument("--declared-birth", help="申し立てる生年月日 (YYYY-MM-DD)")
    p.add_argument("--declared-address", help="申し立てる住所")
    p.add_argument("--contest", action="append", help="選挙（繰返し可、省略時はすべて）")
    p.add_argument("--reason", required=True, help="supervisor_refusal(管理者拒否) / witness_objection(立会人異議) / "
                                                   "claims_not_voted(投票済の申立て)")
    p.add_argument("--decided-by", required=True, help="決定した投票管理者・立会人")
    p.add_argument("--clerk", default="unspecified")
    p.add_argument("--note")
    p.add_argument("--now")

    p = cli.command("terminal", "open-check", _cmd_open_check, "開設前の確認: 選挙・選挙の組合せ・名簿の版を本部と照合する")
    p.add_argument("tdir")
    p.add_argument("--timeout", type=float, default=5.0, help="本部への接続を待つ秒数")
    p.add_argument("--offline", action="store_true", help="本部に接続しない（端末の版だけ表示）")
    p.add_argument("--open-as", metavar="CLERK", help="一致（または未照合）なら、この管理者名で開設する")
    p.add_argument("--now")

    p = cli.command("terminal", "close-station", _cmd_close, "投票所の閉鎖（受付を止め、本日の集計を表示する）")
    p.add_argument("tdir")
    p.add_argument("--clerk", required=True, help="投票管理者")
    p.add_argument("--final", action="append", metavar="C:RECEIVED:ISSUED:LEFT",
                   help="選挙ごとの投票用紙 受領数:交付数:残数（繰返し可）")
    p.add_argument("--now")

    p = cli.command("terminal", "count", _cmd_count, "交付数（時間ごと）を記録する")
    p.add_argument("tdir")
    p.add_argument("--contest", required=True)
    p.add_argument("--hour", type=int, required=True)
    p.add_argument("--issued", type=int, required=True)
    p.add_argument("--clerk", default="unspecified")
    p.add_argument("--now")

    p = cli.command("terminal", "install-zaigai", _cmd_install_zaigai,
                    "本部が署名した在外選挙人名簿パッケージを検証して端末に導入する")
    p.add_argument("tdir", metavar="TDIR")
    p.add_argument("file", metavar="PKG")

    p = cli.command("terminal", "zaigai-checkin", _cmd_zaigai_checkin, "在外選挙人の受付（国政選挙のみ）")
    p.add_argument("tdir")
    p.add_argument("zaigai_id")
    p.add_argument("--card", required=True, help="在外選挙人証の番号")
    p.add_argument("--clerk", default="unspecified")
    p.add_argument("--oath-reason", help="宣誓書の事由（期日前投票所では必須）")
    p.add_argument("--proxy", action="store_true")
    p.add_argument("--braille", action="store_true")
    p.add_argument("--now")

    p = cli.command("hq", "zaigai-import", _cmd_hq_zaigai_import,
                    "在外選挙人名簿（CSV）を本部に取り込む（全件置き換え。指定投票所も置き換え）")
    p.add_argument("hqdir", metavar="HQDIR")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--designated", nargs="+", action="extend", metavar="STATION",
                   help="期日前投票所のほかに在外選挙人を受け付ける指定投票所（複数可）")
    p.add_argument("--now", help="日時 (ISO 8601)")

    p = cli.command("hq", "zaigai-publish", _cmd_hq_zaigai_publish, "在外選挙人名簿の次の版を署名して書き出す")
    p.add_argument("hqdir", metavar="HQDIR")
    p.add_argument("--out", metavar="FILE", help="書き出し先（省略時は HQDIR/rolls/ の控えだけ）")
    p.add_argument("--now", help="日時 (ISO 8601)")

    p = cli.command("hq", "absentee-status", _cmd_absentee_status, "不在者投票の状態（請求・交付・受領・受理・不受理）を記録する")
    p.add_argument("hqdir")
    p.add_argument("voter_id")
    p.add_argument("--contest", required=True)
    p.add_argument("--state", required=True, choices=["requested", "issued", "received", "accepted", "rejected",
                                                       "returned"])
    p.add_argument("--who", required=True)
    p.add_argument("--note")
    p.add_argument("--now")
    _store_option(p)

    p = cli.command("hq", "reports", _cmd_reports, "帳票: 当日時間別・期日前・年代別・投票録・照合（CSV/JSON）")
    p.add_argument("hqdir")
    p.add_argument("--what", required=True, choices=["hourly", "early", "age", "tohyoroku", "reconcile"])
    p.add_argument("--format", default="csv", choices=["csv", "json"])
    p.add_argument("--hours", help="当日の報告時刻（既定 10,11,14,16,18）")
    p.add_argument("--out", help="書き出すファイル（省略時は画面）")
    _store_option(p)

    p = cli.command("hq", "paper-backup", _cmd_paper_backup, "紙の名簿抄本（投票済の記載つき PDF）を作る")
    p.add_argument("hqdir")
    p.add_argument("--station", required=True)
    p.add_argument("--district", type=int)
    p.add_argument("--out", required=True)
    p.add_argument("--as-of", help="投票済を記載する時点 (ISO 8601、既定は現在)")
    p.add_argument("--font", help="日本語 TrueType フォント")
    p.add_argument("--now")
    _store_option(p)


__all__ = ["register"]
