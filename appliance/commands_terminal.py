"""Commands: ``meibo hq init``, ``meibo hq enroll-local``, ``meibo terminal checkin|void|verify``.

The I/O edge of the terminal core: arguments in, ``Outcome`` out (Japanese text, ``--json`` with
stable English codes). Directories are built in a temporary sibling and renamed into place, so a
failure leaves nothing half-made. ``resolve_with_hq`` is the one seam where HQ verdicts plug into
a check-in (the sync layer replaces it); until then every handed ballot is ``offline_provisional``.
Never imports the UI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.cli import Cli, Outcome
from ground.clock import Clock, clock_from_arg
from ground.config import load_config
from appliance.dirs import HqDir, TerminalDir, TerminalIdentity, write_atomic, write_private
from appliance.eligibility import ContestDecision
from ground.errors import ApplianceError, UsageError
from appliance import atrest, journal
from ground.model import ElectionConfig, HQ_TERMINAL, StationId, TerminalId
from appliance.store import Store
from appliance.terminal import LocalCheckin, Terminal, write_pin

_TERMINAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


# ---------------------------------------------------------------------------------------------
# helpers

def _fresh_dir(target: Path) -> None:
    """Refuse to build over anything: only a missing or empty directory may become ours."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"ディレクトリが空ではありません（上書きしません）: {target}", code="dir_not_empty")


@dataclass
class _Staging:
    """A temporary directory next to ``target``, renamed onto it by ``commit()``."""

    target: Path

    def __post_init__(self) -> None:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))

    def commit(self) -> None:
        if self.target.exists():
            self.target.rmdir()  # only an empty directory was allowed to exist
        os.replace(self.path, self.target)
        fd = os.open(self.target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _ed25519_keypair(key_path: Path, pub_path: Path) -> bytes:
    from nacl.signing import SigningKey

    sk = SigningKey.generate()
    write_private(key_path, bytes(sk))
    pub = bytes(sk.verify_key)
    write_atomic(pub_path, pub)
    return pub


def _pki() -> Any:
    """provisioning.pki when it exists (it is written separately); None only if it is missing."""
    try:
        from provisioning import pki
    except ModuleNotFoundError as e:
        if e.name in ("provisioning.pki", "provisioning"):
            return None
        raise
    return pki


# ---------------------------------------------------------------------------------------------
# meibo hq init

def hq_init(hq_root: Path, config_path: Path, clock: Clock) -> ElectionConfig:
    config = load_config(config_path)  # ConfigInvalid names every bad key; nothing created yet
    _fresh_dir(hq_root)
    stage = _Staging(hq_root)
    try:
        hq = HqDir(stage.path)
        write_atomic(hq.config_path, config_path.read_bytes())
        _ed25519_keypair(hq.roll_key, hq.roll_pub)
        write_atomic(stage.path / "terminals.json", b"[]\n")
        pki = _pki()
        if pki is not None and hasattr(pki, "create_election_pki"):
            pki.create_election_pki(hq.pki, config, clock)
        stage.commit()
    except BaseException:
        stage.discard()
        raise
    return config


def _cmd_hq_init(args: argparse.Namespace) -> Outcome:
    root = Path(args.hqdir)
    config = hq_init(root, Path(args.config), clock_from_arg(args.now))
    return Outcome({"code": "ok", "hqdir": str(root), "election": config.election_id,
                    "contests": list(config.contest_ids), "stations": [s.station_id for s in config.stations]},
                   f"HQ ディレクトリを作成しました: {root}\n選挙: {config.name}（{config.election_id}）"
                   f" 選挙 {len(config.contests)} 件・投票所 {len(config.stations)} か所")


# ---------------------------------------------------------------------------------------------
# meibo hq enroll-local

def _terminals_path(hq: HqDir) -> Path:
    return hq.root / "terminals.json"


def read_terminals(hq: HqDir) -> list[dict[str, Any]]:
    """HQ's record of enrolled terminals: {terminal, station, device_pub, enrolled_at, revoked}."""
    p = _terminals_path(hq)
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ApplianceError(f"{p} が壊れています: {e}", code="terminals_corrupt")
    if not isinstance(data, list):
        raise ApplianceError(f"{p} が壊れています", code="terminals_corrupt")
    return data


def enroll_local(hq_root: Path, terminal: str, station: str, out: Path, clock: Clock, *,
                 replace: bool = False, pin: str | None = None) -> dict[str, Any]:
    hq = HqDir(hq_root).require()
    config = hq.config()
    if not _TERMINAL_ID.match(terminal) or terminal == HQ_TERMINAL:
        raise UsageError(f"端末IDは英数字と - _ . で 32 文字まで（HQ は使えません）: {terminal!r}",
                         code="terminal_invalid")
    try:
        config.station(station)
    except KeyError:
        known = "、".join(s.station_id for s in config.stations)
        raise UsageError(f"投票所 {station} は election.toml にありません（あるのは {known}）", code="station_unknown")
    tdir = TerminalDir(out)
    terminals = read_terminals(hq)
    active = [t for t in terminals if t.get("terminal") == terminal and not t.get("revoked")]
    if not replace:
        if tdir.identity_path.exists():
            raise UsageError(f"この端末ディレクトリはすでに登録済みです（やり直すときは --replace）: {out}",
                             code="already_enrolled")
        if active:
            raise UsageError(f"端末 {terminal} はすでに登録されています（やり直すときは --replace）",
                             code="terminal_already_enrolled")
    if not (replace and out.exists()):
        _fresh_dir(out)
    now = clock.now()
    stage = _Staging(out)
    try:
        t = TerminalDir(stage.path)
        write_atomic(t.config_path, hq.config_path.read_bytes())
        t.write_identity(TerminalIdentity(TerminalId(terminal), StationId(station), config.election_id,
                                          config.hq_address))
        device_pub = _ed25519_keypair(t.device_key, t.device_pub)
        write_atomic(t.hq_roll_pub, hq.roll_pub.read_bytes())
        key = None
        if pin is not None:
            write_pin(t, pin)
            # personal data at rest: the store is SQLCipher under a data key sealed by the PIN
            key = atrest.seal_new(t, pin)
        store = Store(t.store_path, key=key)
        try:
            journal.init(store, config.election_id, TerminalId(terminal))
        finally:
            store.close()
        pki = _pki()
        serial = None
        if pki is not None and hasattr(pki, "issue_local_tls"):
            serial = pki.issue_local_tls(hq.pki, t.tls, terminal, station, config, clock)
        if replace and out.exists():
            # never destroy a journal: the old directory is kept beside the new one
            os.replace(out, out.with_name(f"{out.name}.replaced-{now:%Y%m%dT%H%M%S}"))
        stage.commit()
    except BaseException:
        stage.discard()
        raise
    entry: dict[str, Any] = {"terminal": terminal, "station": station, "device_pub": device_pub.hex(),
                             "enrolled_at": now.isoformat(), "revoked": False}
    if serial is None:  # no PKI: nothing to revoke either
        terminals = read_terminals(hq)
        for rec in terminals:
            if rec.get("terminal") == terminal and not rec.get("revoked"):
                rec["revoked"] = True
        terminals.append(entry)
        write_atomic(_terminals_path(hq), json.dumps(terminals, ensure_ascii=False, indent=1).encode("utf-8"))
        return entry
    from hq.store import retire_identity

    # As the card enrollment does (hq/enroll_server.py): the entry records its
    # certificate, and every earlier certificate of the terminal is revoked at once, also those
    # issued before entries recorded serials (the CA's register of issued serials has them).
    entry["tls_serials"] = [serial]
    entry["enrolled_by"] = "local"
    with hq.registry_lock():
        terminals = read_terminals(hq)
        old = retire_identity(terminals, terminal, pki.serials_of_terminal(hq.pki, terminal) - {serial},
                              revoked_reason="再登録（enroll-local --replace）",
                              revoked_at=now.isoformat(timespec="seconds"))
        terminals.append(entry)
        write_atomic(_terminals_path(hq), json.dumps(terminals, ensure_ascii=False, indent=1).encode("utf-8"))
    if old:
        _publish_revocation(hq, clock)
    return entry


def _publish_revocation(hq: HqDir, clock: Clock) -> None:
    """Put the revoked serials on the CRL now, by one writer as ``hq revoke`` does: the serving
    HQ re-issues it (its next handshakes refuse the old certificate before this returns); with
    HQ stopped, it is re-issued here, keeping every serial already listed."""
    import asyncio

    from sync_protocol.commands import ask_hq
    from hq.crl_keeper import renew_offline

    try:
        asyncio.get_running_loop()
        in_loop = True  # called from inside an event loop: asyncio.run cannot ask the HQ from here
    except RuntimeError:
        in_loop = False
    if in_loop or ask_hq(hq, {"op": "crl_renew", "now": None}) is None:
        # a serving HQ notices the new file on its next look (crl_keeper.py) and swaps it in
        renew_offline(hq, clock)


def _cmd_enroll_local(args: argparse.Namespace) -> Outcome:
    pin = None
    if args.pin_file:
        try:
            pin = Path(args.pin_file).read_text("utf-8").strip()
        except OSError as e:
            raise UsageError(f"PIN ファイルを読めません: {args.pin_file} ({e.strerror})", code="pin_unreadable")
    entry = enroll_local(Path(args.hqdir), args.terminal, args.station, Path(args.out),
                         clock_from_arg(args.now), replace=args.replace, pin=pin)
    text = f"端末 {args.terminal} を投票所 {args.station} に登録しました: {args.out}"
    if pin is None:
        text += "\n注意: PIN が指定されていないため、端末の保存データは暗号化されません（--pin-file で登録してください）"
    else:
        text += "\n保存データは暗号化されています。使う前に meibo terminal open TDIR --pin-file F で開設してください"
    return Outcome({"code": "ok", "tdir": args.out, "encrypted": pin is not None, **entry}, text)


# ---------------------------------------------------------------------------------------------
# meibo terminal checkin

@dataclass(frozen=True)
class ContestOutcome:
    """What the poll worker is told for one contest after HQ's verdict (or its absence)."""

    decision: ContestDecision
    status: str  # ok | offline_provisional | already_voted (HQ) | a refusal code
    reason: str = ""

    @property
    def hand(self) -> bool:
        return self.status in ("ok", "offline_provisional")


def resolve_with_hq(term: Terminal, local: LocalCheckin) -> list[ContestOutcome]:
    """Ask HQ for its verdict on the handed contests and record the answer in the journal.

    Through the terminal's running sync agent when there is one, else over a link opened for
    this check-in (sync_protocol.client). Contests HQ says were already voted are recorded
    ``withheld`` (not handed); when any verdict is missing within the budget the check-in is
    recorded ``provisional`` and those ballots are ``offline_provisional``.
    """
    import asyncio

    from appliance.terminal import hlc_to_jst
    from sync_protocol.client import resolve

    assert local.seq is not None
    res = asyncio.run(resolve(term.tdir, term, local.seq, [d.contest for d in local.handed]))
    by_contest = {v.contest: v for v in res.verdicts}
    out: list[ContestOutcome] = []
    for d in local.handed:
        v = by_contest.get(d.contest)
        if d.contest in res.withheld and v is not None:
            at = hlc_to_jst(v.hlc).strftime("%m月%d日 %H:%M")
            where = _station_name(term, v.station)
            out.append(ContestOutcome(d, "already_voted",
                                      f"投票済: {where}（端末 {v.terminal}、{at}）で交付済み。交付しないでください"))
        elif v is not None and v.accepted:
            out.append(ContestOutcome(d, "ok"))
        else:
            out.append(ContestOutcome(d, "offline_provisional",
                                      "オフライン受付（本部の確認は接続後に行われます。オフライン時の手順に従ってください）"))
    return out


def _station_name(term: Terminal, station_id: str) -> str:
    if station_id == "HQ":
        return "選挙管理委員会（不在者投票）"
    try:
        return term.config.station(station_id).name
    except KeyError:
        return station_id


Resolver = Callable[[Terminal, LocalCheckin], list[ContestOutcome]]


def checkin_outcome(term: Terminal, local: LocalCheckin, resolved: list[ContestOutcome]) -> Outcome:
    by_contest = {o.decision.contest: o for o in resolved}
    rows: list[dict[str, Any]] = []
    lines_hand: list[str] = []
    lines_refused: list[str] = []
    overall = "ok"
    for d in local.decision.contests:
        o = by_contest.get(d.contest, ContestOutcome(d, d.code.value, d.reason))
        row: dict[str, Any] = {"contest": d.contest, "name": d.name, "status": o.status,
                               "hand": o.hand, "reason": o.reason or d.reason}
        if d.proof_required:
            row["proof_required"] = True
        if d.note:
            row["note"] = d.note
        if d.voted is not None:
            row["voted_station"] = d.voted.station
            row["voted_terminal"] = d.voted.terminal
            row["voted_at"] = d.voted.at.isoformat() if d.voted.at else None
        rows.append(row)
        if o.hand:
            lines_hand.append(f"  {len(lines_hand) + 1}. {d.name}" + (f"\n     ※ {d.note}" if d.note else ""))
        else:
            lines_refused.append(f"  × {d.name}: {row['reason']}（{o.status}）")
            if overall == "ok":
                overall = o.status
    v = local.voter
    data = {"code": overall, "seq": local.seq, "voter": v.voter_id, "station": term.station.station_id,
            "contests": rows}
    text = [f"選挙人番号 {v.voter_id}  {v.name}（{v.name_kana}）  第{v.district}投票区"]
    if lines_hand:
        text.append(f"交付する投票用紙（この順に手渡してください）  受付番号 {local.seq}")
        text += lines_hand
        if any(o.status == "offline_provisional" for o in resolved):
            text.append("  （オフライン受付: 本部の確認は接続後に行われます）")
    else:
        text.append("交付できる投票用紙はありません")
    if lines_refused:
        text.append("交付しない投票用紙")
        text += lines_refused
    return Outcome(data, "\n".join(text), 0 if overall == "ok" else 1)


def run_checkin(term: Terminal, voter_id: str, clerk: str, marks: dict[str, Any],
                resolver: Resolver | None = None) -> Outcome:
    local = term.checkin(voter_id, clerk, marks)
    resolved = (resolver or resolve_with_hq)(term, local) if local.seq is not None else []
    return checkin_outcome(term, local, resolved)


def _open(args: argparse.Namespace) -> Terminal:
    return Terminal.open(TerminalDir(Path(args.tdir)), clock_from_arg(getattr(args, "now", None)))


def _cmd_checkin(args: argparse.Namespace) -> Outcome:
    marks: dict[str, Any] = {}
    if args.proxy:
        marks["proxy"] = True
    if args.braille:
        marks["braille"] = True
    if args.oath_reason:
        marks["oath_reason"] = args.oath_reason
    with _open(args) as term:
        return run_checkin(term, args.voter_id, args.clerk, marks)


def _cmd_void(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        ev = term.void(args.seq, args.reason, args.clerk)
    return Outcome({"code": "ok", "seq": ev.seq, "ref": args.seq},
                   f"受付記録 {args.seq} 番を取り消しました（記録番号 {ev.seq}）")


def _cmd_verify(args: argparse.Namespace) -> Outcome:
    with _open(args) as term:
        rep = term.verify()
    data: dict[str, Any] = {"code": rep.code, "entries": rep.entries, "head_seq": rep.head.seq,
                            "head_hash": rep.head.hash.hex()}
    if rep.ok:
        return Outcome(data, f"受付記録は正常です（{rep.entries} 件、最後 {rep.head.seq} 番）")
    data.update(first_broken=rep.first_broken, message=rep.problem)
    return Outcome(data, f"{rep.problem}\n（{rep.entries} 件目までは正常）", 1)


def register(cli: Cli) -> None:
    p = cli.command("hq", "init", _cmd_hq_init, "HQ ディレクトリを作成する（設定の検証・名簿署名鍵・選挙 CA）")
    p.add_argument("hqdir")
    p.add_argument("--config", required=True, help="election.toml")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("hq", "enroll-local", _cmd_enroll_local, "端末ディレクトリを直接登録する")
    p.add_argument("hqdir")
    p.add_argument("--terminal", required=True)
    p.add_argument("--station", required=True)
    p.add_argument("--out", required=True, help="TDIR")
    p.add_argument("--pin-file", help="投票管理者 PIN を書いたファイル")
    p.add_argument("--replace", action="store_true", help="登録をやり直す（古いディレクトリは残す）")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "checkin", _cmd_checkin, "名簿対照（受付）: 交付する投票用紙を判定して記録する")
    p.add_argument("tdir")
    p.add_argument("voter_id")
    p.add_argument("--clerk", default="unspecified", help="担当者ID")
    p.add_argument("--proxy", action="store_true", help="代理投票")
    p.add_argument("--braille", action="store_true", help="点字投票")
    p.add_argument("--oath-reason", help="宣誓書の事由")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "void", _cmd_void, "受付の取消（投票せずに帰った）")
    p.add_argument("tdir")
    p.add_argument("seq", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--clerk", default="unspecified")
    p.add_argument("--now", help="ISO 8601 (Japan time)")

    p = cli.command("terminal", "verify", _cmd_verify, "受付記録のハッシュ連鎖を検証する")
    p.add_argument("tdir")
