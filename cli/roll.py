"""Roll commands: ``meibo roll import|publish``, ``meibo terminal install-roll|lookup``, ``meibo synth-roll``.

Thin edge: parse arguments, call hqroll / rollpkg / lookup / synth, turn results into an
``Outcome`` (English ``code`` + Japanese text). No roll logic lives here.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from appliance.audit import audited_lookup
from appliance.dirs import HqDir, TerminalDir
from ground.errors import ApplianceError, RollSignatureInvalid, UsageError
from hq.roll import age_checks, import_roll, publish
from appliance.lookup import LookupResult
from appliance.rollpkg import SIGNATURE_MESSAGE, Limits, open_package
from appliance.rollinstall import install_verified
from appliance.store import Store
from appliance.synth import SynthSettings, write_roll_file
from appliance.terminal import Terminal
from appliance.wareki import WarekiInvalid, parse_date
from appliance.rollmap import check as check_roll, load_map


def _outcome(data: dict[str, Any], text: str, exit_status: int = 0) -> Outcome:
    return Outcome(data, text, exit_status)


def cmd_import(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    cmap = load_map(Path(args.map)) if args.map else None
    res = import_roll(hq, Path(args.csv), clock_from_arg(args.now), column_map=cmap)
    st = res.by_status
    text = (f"名簿を取り込みました: {res.rows} 人（登録 {st.get('registered', 0)}、抹消 {st.get('deleted', 0)}、"
            f"表示 {st.get('displayed', 0)}）。公開するには meibo roll publish を実行してください。")
    return _outcome({"code": "ok", "rows": res.rows, "by_status": st, "source_sha256": res.source_sha256}, text)


def cmd_check(args: argparse.Namespace) -> Outcome:
    """Dry run (試し読み): counts per status and the first problems; changes nothing."""
    if args.first < 0:
        raise UsageError("--first は 0 以上です", code="usage")
    day = date.fromisoformat(args.election_day) if args.election_day else None
    rep = check_roll(Path(args.csv), load_map(Path(args.map)), first=args.first, election_day=day)
    c = rep.counts
    confirm = f"（うち年齢確認が必要 {c.get('age_confirm', 0)} 行）" if day is not None else ""
    lines = [f"{args.csv}: 正常 {c.get('ok', 0)} 行、生年月日不詳 {c.get('birth_unknown', 0)} 行{confirm}、"
             f"誤り {c.get('error', 0)} 行（誤り {rep.problem_total} 件）。何も変更していません。"]
    lines += [f"  {p.where()}: {p.message}" for p in rep.problems]
    if rep.problem_total > len(rep.problems):
        lines.append(f"  ほか {rep.problem_total - len(rep.problems)} 件")
    return _outcome(rep.as_json(), "\n".join(lines), 1 if rep.problem_total else 0)


def cmd_publish(args: argparse.Namespace) -> Outcome:
    hq = HqDir(Path(args.hqdir)).require()
    res = publish(hq, Path(args.out), clock_from_arg(args.now), full=args.full)
    m = res.manifest
    kind = "全件" if m.kind == "full" else f"差分（第 {m.base_version} 版から）"
    text = (f"名簿 第 {m.version} 版（{kind}、{m.row_count} 行、{res.size} バイト）を署名して書き出しました: {args.out}\n"
            f"本体 SHA-256: {m.body_sha256}")
    return _outcome({"code": "ok", **m.as_json(), "size": res.size, "out": str(args.out), "copy": str(res.path)}, text)


def _terminal_election(t: TerminalDir) -> str:
    if t.identity_path.exists():
        return t.identity().election_id
    return t.config().election_id


def cmd_install(args: argparse.Namespace) -> Outcome:
    t = TerminalDir(Path(args.tdir))
    election_id = _terminal_election(t)
    try:
        pub = t.hq_roll_pub.read_bytes()
    except OSError:
        raise UsageError(f"本部の名簿署名用公開鍵がありません: {t.hq_roll_pub}", code="hq_key_missing")
    limits = Limits()
    path = Path(args.file)
    try:
        if path.stat().st_size > limits.max_package_bytes:
            raise RollSignatureInvalid(SIGNATURE_MESSAGE)
        data = path.read_bytes()
    except OSError as e:
        raise ApplianceError(f"名簿パッケージを読めません: {path} ({e.strerror})", code="roll_unreadable")
    # Verify completely before the store is even opened (opening may create it or migrate it).
    manifest, body = open_package(data, pub, limits)
    store = Store(t.store_path)
    try:
        res = install_verified(store, manifest, body, election_id, limits)
    finally:
        store.close()
    m = res.manifest
    kind = "全件" if m.kind == "full" else f"差分（第 {m.base_version} 版から）"
    text = (f"名簿 第 {m.version} 版（{kind}）を導入しました: 追加・更新 {res.put} 人、削除 {res.removed} 人"
            f"（前の版: {res.previous_version if res.previous_version is not None else 'なし'}）")
    return _outcome({"code": "ok", "version": m.version, "kind": m.kind, "base_version": m.base_version,
                     "previous_version": res.previous_version, "put": res.put, "removed": res.removed,
                     "digest": m.body_sha256, "election_id": m.election_id}, text)


def _render(res: LookupResult) -> str:
    lines = []
    for f in res.found:
        v = f.voter
        d = f.as_dict()
        lines.append(f"{v.voter_id}  {v.name}（{v.name_kana}）  {d['birth_wareki']}生  {v.sex.ja}  "
                     f"第{v.district}投票区  {d['status_ja']}")
        lines.append(f"    {v.address}")
        for m in f.voted:
            lines.append(f"    投票済: {m.contest}  {m.station}  {m.at.strftime('%m/%d %H:%M')}")
    if res.truncated:
        lines.append(f"（先頭 {len(res.found)} 件のみ表示。条件を絞ってください）")
    return "\n".join(lines)


def cmd_lookup(args: argparse.Namespace) -> Outcome:
    t = TerminalDir(Path(args.tdir))
    if not t.store_path.exists():
        raise ApplianceError("名簿が導入されていません（meibo terminal install-roll を実行してください）",
                             code="roll_not_installed")
    birth: date | None = None
    if args.birth:
        if not args.kana:
            raise UsageError("--birth は --kana と一緒に指定してください", code="usage")
        try:
            birth = parse_date(args.birth)
        except WarekiInvalid as e:
            raise UsageError(f"--birth: {e}", code="bad_birth")
    # Every lookup that shows a voter is audit-logged in the journal first (appliance/audit.py).
    with Terminal.open(t, clock_from_arg(getattr(args, "now", None))) as term:
        res = audited_lookup(term, barcode=args.barcode, voter_id=args.voter_id,
                             kana=args.kana if args.barcode is None and args.voter_id is None else None,
                             birth=birth, clerk=getattr(args, "clerk", None))
    data = {"code": "ok" if res.found else "not_found", "count": len(res.found), "truncated": res.truncated,
            "voters": [f.as_dict() for f in res.found]}
    if not res.found:
        return _outcome(data, "該当する選挙人はいません。", 1)
    return _outcome(data, _render(res))


def cmd_age_check(args: argparse.Namespace) -> Outcome:
    """年齢確認が必要な選挙人: 生年月日 不詳 leaves the 18-year rule open (issue 19)."""
    hq = HqDir(Path(args.hqdir)).require()
    rows = age_checks(hq)
    data = {"code": "ok", "count": len(rows), "voters": [a.as_json() for a in rows]}
    if not rows:
        return _outcome(data, "年齢確認が必要な選挙人はいません。")
    lines = [f"年齢確認が必要な選挙人: {len(rows)} 人（受付で本人確認書類により選挙期日に18歳以上かを確認）"]
    lines += [f"  {a.voter_id}  {a.name}（{a.kana}）  生年月日 {a.birth_ja}  第{a.district}投票区"
              + ("" if a.code == "age_confirm_id" else "  ※既知の部分から18歳未満") for a in rows]
    return _outcome(data, "\n".join(lines))


def cmd_synth(args: argparse.Namespace) -> Outcome:
    if args.voters < 1:
        raise UsageError("--voters は 1 以上です", code="usage")
    day = date.fromisoformat(args.election_day) if args.election_day else date(2027, 4, 25)
    s = SynthSettings(voters=args.voters, seed=args.seed, election_day=day, districts=args.districts)
    n = write_roll_file(s, Path(args.out))
    return _outcome({"code": "ok", "voters": n, "seed": args.seed, "out": str(args.out)},
                    f"合成名簿を書き出しました: {n} 人（seed {args.seed}）→ {args.out}")


def register(cli: Cli) -> None:
    """Add this package's commands to the ``meibo`` parser."""
    p = cli.command("roll", "import", cmd_import, "市区町村の名簿 CSV を本部の名簿に取り込む（全件置き換え）")
    p.add_argument("hqdir", metavar="HQDIR")
    p.add_argument("csv", metavar="ROLL_CSV")
    p.add_argument("--map", metavar="MAP_TOML", help="列対応表（TOML）: 市区町村の書き出し形式のまま読む")
    p.add_argument("--now", help="日時 (ISO 8601)")

    p = cli.command("roll", "check", cmd_check, "名簿 CSV を列対応表で試し読みする（件数と誤りを表示、何も変更しない）")
    p.add_argument("csv", metavar="ROLL_CSV")
    p.add_argument("--map", required=True, metavar="MAP_TOML", help="列対応表（TOML）")
    p.add_argument("--first", type=int, default=20, metavar="N", help="表示する誤りの件数（既定 20）")
    p.add_argument("--election-day", metavar="YYYY-MM-DD", help="選挙期日（18歳未満の行を誤りとする）")

    p = cli.command("roll", "age-check", cmd_age_check,
                    "生年月日不詳で年齢確認（本人確認書類）が必要な選挙人を一覧する")
    p.add_argument("hqdir", metavar="HQDIR")

    p = cli.command("roll", "publish", cmd_publish, "名簿の次の版を署名して書き出す（前の版からの差分、--full で全件）")
    p.add_argument("hqdir", metavar="HQDIR")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--full", action="store_true", help="差分ではなく全件を書き出す")
    p.add_argument("--now", help="日時 (ISO 8601)")

    p = cli.command("terminal", "install-roll", cmd_install, "署名付き名簿パッケージを検証して端末に導入する")
    p.add_argument("tdir", metavar="TDIR")
    p.add_argument("file", metavar="FILE")

    p = cli.command("terminal", "lookup", cmd_lookup, "名簿を検索する（バーコード・選挙人番号・カナ）")
    p.add_argument("tdir", metavar="TDIR")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--barcode", metavar="B", help="入場整理券のバーコード")
    g.add_argument("--voter-id", metavar="V", help="選挙人番号")
    g.add_argument("--kana", metavar="K", help="氏名カナの先頭（ひらがな・カタカナ・半角可、空白は無視）")
    p.add_argument("--birth", metavar="YYYY-MM-DD", help="生年月日で絞り込む（和暦も可）")
    p.add_argument("--clerk", metavar="ID", help="担当者ID（閲覧記録に残る）")
    p.add_argument("--now", help="日時 (ISO 8601)")

    p = cli.command(None, "synth-roll", cmd_synth, "合成の名簿 CSV を書き出す（デモ・試験・性能測定用）")
    p.add_argument("--voters", type=int, required=True, metavar="N")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--election-day", metavar="YYYY-MM-DD")
    p.add_argument("--districts", type=int, metavar="K")
