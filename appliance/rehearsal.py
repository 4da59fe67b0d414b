"""The terminal's rehearsal (リハーサル, 試験モード) and ゼロ確認: a test area that cannot leak.

Owns TDIR/rehearsal/ (the test area), the test roll, the scripted steps and the zero proof. May
import ground and the rest of appliance; never the network, HQ, the screens or the CLI: what
needs HQ (its published versions, the cross-station double-vote detector, a sync round) comes in
as arguments, as wipe.py takes its export check.

Rules kept here:
- Every test record is made for ``rehearsal_id(election)`` (ground/rehearsal.py): the test
  journal's genesis, the test roll's manifest and the HELLO all name that id, so the election
  check every real store and HQ ledger already makes refuses them. No flag to forget.
- Start builds the area in ``rehearsal.tmp`` and renames it into place (one ``rename``): the
  terminal is in test mode exactly while ``TDIR/rehearsal`` exists, and a crash leaves either no
  area or a whole one. The real journal and store are never opened for writing by this module.
- While the area exists a real check-in is refused (``rehearsal_active``, the one-line guard in
  ``Terminal.checkin``); finishing is the only way out and is refused when the real journal is
  not empty (``real_journal_not_empty``: a rehearsal after voting began is an error to report).
- Finish destroys the area as wipe.py destroys a terminal (overwrite, fsync, unlink, checked
  gone), the test store's head record included, and only then writes the zero proof. It is
  refused (``rehearsal_in_use``) while a test terminal is open in any process (a kiosk in test
  mode): each holds a shared ``flock`` on area.json, finish takes it exclusively.
- The test roll is generated here (appliance/synth.py, deterministic per election, so every
  terminal of a station holds the same テスト voters), every name starting with 【テスト】, signed
  with a throw-away key made at start and installed through the real installer for the test id.

The test area's clock (``RehearsalClock``) is the station's last open day at its opening time
plus the real time elapsed since start: a rehearsal runs days before voting, and the eligibility
rules (the early-voting period, opening hours) must see a moment when the station takes voters
for every contest (国民審査 may open for early voting days after the others: the last day has
them all).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import os
import shutil
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance import freshness, journal
from appliance.dirs import TerminalDir, TerminalIdentity, write_atomic, write_private
from appliance.procedures.tentative import record_tentative
from appliance.rollcsv import parse_roll
from appliance.rollinstall import install_package
from appliance.rollpkg import build_package, encode_voter, public_key_of
from appliance.store import Store
from appliance.synth import SynthSettings, write_roll
from appliance.terminal import Terminal
from appliance.wipe import _shred, _Shredded  # the same shredding the wipe record vouches for
from ground.clock import JST, Clock
from ground.config import load_config
from ground.errors import ApplianceError
from ground.events import genesis_hash
from ground.model import ElectionConfig, Station, Status, Voter
from ground.rehearsal import rehearsal_id

AREA = "rehearsal"
NAME_MARK = "【テスト】"
TEST_VOTERS = 60
CLERK = "rehearsal"


class RehearsalError(ApplianceError):
    code = "rehearsal_error"


class RehearsalActive(RehearsalError):
    """Already in test mode: finish the rehearsal (ゼロ確認) first."""

    code = "rehearsal_active"


class RehearsalInUse(RehearsalError):
    """The test area is open (a kiosk in test mode, a run): close it, then finish."""

    code = "rehearsal_in_use"


class NotInRehearsal(RehearsalError):
    code = "not_in_rehearsal"


class RealJournalNotEmpty(RehearsalError):
    """The real journal holds entries: voting (or something) began; call HQ, do not rehearse."""

    code = "real_journal_not_empty"


def area_dir(tdir: TerminalDir) -> TerminalDir:
    return TerminalDir(tdir.root / AREA)


def active(tdir: TerminalDir) -> bool:
    return (tdir.root / AREA).exists()


def _area_meta(tdir: TerminalDir) -> dict[str, Any]:
    p = tdir.root / AREA / "area.json"
    try:
        return dict(json.loads(p.read_text("utf-8")))
    except FileNotFoundError:
        raise NotInRehearsal(f"試験モードではありません: {tdir.root}", tdir=str(tdir.root))
    except (ValueError, UnicodeDecodeError) as e:
        raise RehearsalError(f"試験領域の記録が壊れています: {p} ({e})", code="rehearsal_area_corrupt")


class RehearsalClock:
    """The station's last open day at opening time + 30 min, plus real time since ``started``
    (kept inside that day's hours)."""

    def __init__(self, base: Clock, station: Station, started: datetime) -> None:
        w = max(station.windows, key=lambda x: x.last_day)
        self._base = base
        self._start = datetime.combine(w.last_day, w.opens, JST) + timedelta(minutes=30)
        self._end = datetime.combine(w.last_day, w.closes, JST) - timedelta(minutes=1)
        self._t0 = started

    def now(self) -> datetime:
        return min(self._start + max(timedelta(0), self._base.now() - self._t0), self._end)

    def wall_ms(self) -> int:
        return int(self.now().timestamp() * 1000)


def test_config(real: ElectionConfig) -> ElectionConfig:
    """The election as the test area sees it: the same contests and stations, the test id."""
    return dataclasses.replace(real, election_id=rehearsal_id(real.election_id))


def test_voters(config: ElectionConfig, n: int = TEST_VOTERS) -> list[Voter]:
    """The テスト voters of ``config``'s rehearsal: synthetic, the same on every terminal."""
    early = max(1, (config.election_day - config.early_voting_start).days)
    s = SynthSettings(voters=n, seed=zlib.crc32(config.election_id.encode("utf-8")),
                      election_day=config.election_day, early_days=early,
                      districts=max([st.district or 1 for st in config.stations] + [1]))
    buf = io.StringIO()
    write_roll(s, buf)
    voters = parse_roll(buf.getvalue().encode("utf-8"), "test-roll.csv", election_day=config.election_day)
    return [dataclasses.replace(v, name=NAME_MARK + v.name) for v in voters]


def _sha_files(root: Path) -> dict[str, str]:
    """sha256 of each regular file directly in ``root`` (the real store and its WAL)."""
    out = {}
    for p in sorted(root.iterdir()):
        if p.is_file():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def start(tdir: TerminalDir, clock: Clock, *, randbytes: Callable[[int], bytes] = os.urandom,
          voters: int = TEST_VOTERS) -> dict[str, Any]:
    """Make the test area (the real journal and store untouched). Refused when already active."""
    ident = tdir.identity()
    real = load_config(tdir.config_path)
    station = real.station(ident.station_id)
    if active(tdir):
        raise RehearsalActive("すでに試験モードです（終わるときは meibo terminal rehearsal finish）")
    rid = rehearsal_id(real.election_id)
    tmp = TerminalDir(tdir.root / (AREA + ".tmp"))
    if tmp.root.exists():  # a start that crashed: nothing in it was ever used
        _destroy(tmp.root, _Shredded())
    now = clock.now()
    write_atomic(tmp.identity_path, b"")  # makes the directory
    tmp.write_identity(TerminalIdentity(ident.terminal_id, ident.station_id, rid, ident.hq_address))
    seed = randbytes(32)
    write_private(tmp.root / "keys" / "test_roll.key", seed)
    cfg = test_config(real)
    roll = sorted(test_voters(real, voters), key=lambda v: v.voter_id)
    pkg, manifest = build_package(election_id=rid, version=1, base_version=None, kind="full",
                                  ops=[("+", encode_voter(v)) for v in roll],
                                  created=now.isoformat(timespec="seconds"), seed=seed)
    store = Store(tmp.store_path, key=None)
    try:
        journal.init(store, rid, ident.terminal_id, randbytes=randbytes)
        install_package(store, pkg, public_key_of(seed), rid)
    finally:
        store.close()
    meta = {"election": rid, "real_election": real.election_id, "terminal": ident.terminal_id,
            "station": station.station_id, "started_at": now.isoformat(timespec="seconds"),
            "test_voters": len(roll), "roll_version": manifest.version, "roll_digest": manifest.body_sha256}
    write_atomic(tmp.root / "area.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
    os.replace(tmp.root, tdir.root / AREA)
    _fsync_dir(tdir.root)
    return meta


def _fsync_dir(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _TestTerminal(Terminal):
    """The test area's terminal. While open it holds a shared ``flock`` on the area's area.json,
    so ``finish`` (which takes it exclusively) never shreds a store a kiosk or a run still uses."""

    lock_fd: int = -1

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.lock_fd >= 0:
                os.close(self.lock_fd)  # releases the lock
                self.lock_fd = -1


def open_test_terminal(tdir: TerminalDir, clock: Clock) -> Terminal:
    """The test area's terminal: the test store, the test journal, the test id, the rehearsal clock."""
    meta = _area_meta(tdir)
    real = load_config(tdir.config_path)
    station = real.station(meta["station"])
    rclock = RehearsalClock(clock, station, datetime.fromisoformat(meta["started_at"]))
    fd = os.open(tdir.root / AREA / "area.json", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        term = _TestTerminal(area_dir(tdir), rclock, config=test_config(real))
    except BaseException:
        os.close(fd)
        raise
    term.lock_fd = fd
    return term


def _lock_area(tdir: TerminalDir) -> int:
    """The area's exclusive lock, or ``RehearsalInUse`` while a test terminal is open anywhere."""
    fd = os.open(tdir.root / AREA / "area.json", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RehearsalInUse("試験モードの端末（キオスク・リハーサルの実行）が使用中です。閉じてから終了してください")
    return fd


def status(tdir: TerminalDir, clock: Clock) -> dict[str, Any]:
    if not active(tdir):
        return {"code": "ok", "active": False}
    meta = _area_meta(tdir)
    with open_test_terminal(tdir, clock) as term:
        counts = _kind_counts(term.store)
        head = term.head()
    return {"code": "ok", "active": True, **meta, "test_journal_seq": head.seq, "test_entries": counts}


def _kind_counts(store: Store) -> dict[str, int]:
    return {str(k): int(n) for k, n in store.conn.execute("SELECT kind, count(*) FROM journal GROUP BY kind")}


# ---------------------------------------------------------------------------------------------
# the scripted rehearsal: each step says what was expected and what was seen

@dataclass
class Step:
    name: str  # Japanese, for the report
    expected: str
    seen: str
    result: str  # PASS | FAIL | SKIP

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class RunReport:
    terminal: str
    station: str
    election: str
    at: str
    steps: list[Step] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        rs = {s.result for s in self.steps}
        return "FAIL" if "FAIL" in rs else "INCOMPLETE" if "SKIP" in rs else "PASS"

    def add(self, name: str, expected: str, seen: str, ok: bool | None) -> Step:
        s = Step(name, expected, seen, "SKIP" if ok is None else "PASS" if ok else "FAIL")
        self.steps.append(s)
        return s

    def as_dict(self) -> dict[str, Any]:
        return {"terminal": self.terminal, "station": self.station, "election": self.election, "at": self.at,
                "verdict": self.verdict, "steps": [s.as_dict() for s in self.steps]}


# ``sync(term)`` → (HQ acknowledged the whole test journal?, what happened, in Japanese); None: no HQ
SyncRound = Callable[[Terminal], tuple[bool, str]]
# ``resolve_at(partner TDIR, its test terminal, seq, contests)`` → contests HQ withheld (recorded)
PartnerResolve = Callable[[TerminalDir, Terminal, int, list[str]], list[str]]
# ``detect([(terminal, events)…])`` → the (voter, contest) pairs HQ's detector flags as 二重投票
Detector = Callable[[Sequence[tuple[str, str, list[Any]]]], list[tuple[str, str]]]


def _eligible(term: Terminal, voters: Sequence[str], skip: set[str]) -> str | None:
    for vid in voters:
        if vid in skip:
            continue
        _, d = term.decide(vid)
        if d.handed and not d.refused:
            return vid
    return None


def _scripted_first(term: Terminal, voters: Sequence[str]) -> str | None:
    for vid in voters:
        _, d = term.decide(vid)
        if d.contests and all(c.code.value == "already_voted" for c in d.refused):
            return vid
    return None


def _candidates(term: Terminal) -> list[str]:
    rows = term.store.conn.execute("SELECT voter_id, name, status FROM voters ORDER BY voter_id")
    return [str(r[0]) for r in rows if str(r[1]).startswith(NAME_MARK) and r[2] == Status.REGISTERED.value]


def run(tdir: TerminalDir, clock: Clock, *, sync: SyncRound | None = None,
        partner: TerminalDir | None = None, detect: Detector | None = None,
        resolve_at: PartnerResolve | None = None) -> RunReport:
    """The scripted rehearsal on this terminal's test area (and ``partner``'s, for the staged
    double vote across two stations: online through HQ's test ledger when ``sync`` and
    ``resolve_at`` are given, and offline, found by ``detect``). The real store's files are
    hashed before and after."""
    meta = _area_meta(tdir)
    before = _sha_files(tdir.root)
    rep = RunReport(meta["terminal"], meta["station"], meta["election"], clock.now().isoformat(timespec="seconds"))
    with open_test_terminal(tdir, clock) as term:
        rows = term.store.conn.execute("SELECT count(*), sum(substr(name, 1, ?) = ?) FROM voters",
                                       (len(NAME_MARK), NAME_MARK)).fetchone()
        roll_el = term.store.get_meta("election_id")
        rep.add("試験名簿の導入", f"{meta['test_voters']} 人、全員の氏名が{NAME_MARK}で始まる、選挙 {meta['election']}",
                f"{rows[0]} 人、{NAME_MARK}付き {rows[1] or 0} 人、選挙 {roll_el}",
                rows[0] == meta["test_voters"] == (rows[1] or 0) and roll_el == meta["election"])
        cands = _candidates(term)
        a = _scripted_first(term, cands)
        if a is None:
            rep.add("受付（テスト選挙人）", "投票用紙を交付して記録", "交付できるテスト選挙人がいません", False)
            return rep
        # the first voter the station may serve, voted or not: one checked in before the script
        # (by hand, by mistake) makes this step FAIL, as the report must then say
        first = term.checkin(a, CLERK)
        rep.add("受付（テスト選挙人）", f"{first.voter.voter_id}: 投票用紙を交付して記録",
                f"{first.voter.voter_id}: " + (f"交付 {len(first.handed)} 件、受付番号 {first.seq}" if first.recorded
                                               else "交付なし（" + "、".join(c.code.value for c in first.refused) + "）"),
                first.recorded)
        a = first.voter.voter_id
        again = term.checkin(a, CLERK)
        codes = sorted({c.code.value for c in again.refused})
        rep.add("二重受付の停止（同じ端末）", f"{a}: 交付なし（already_voted）",
                f"{a}: " + ("交付 %d 件（二重交付）" % len(again.handed) if again.recorded else f"交付なし（{'、'.join(codes)}）"),
                not again.recorded and codes == ["already_voted"])
        voted_before = term.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0]
        tent = record_tentative(term, contests=[c.contest for c in first.handed] or list(term.config.contest_ids)[:1],
                                reason="claims_not_voted", decided_by="試験", clerk=CLERK, voter_id=a)
        voted_after = term.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0]
        rep.add("仮投票（投票済の申立て）", f"{a}: 仮投票を記録、投票済の数は変わらない",
                f"{a}: 記録番号 {tent.seq}、投票済 {voted_before} → {voted_after}", voted_before == voted_after)
        b = _eligible(term, cands, {a})
        if b is None:
            rep.add("オフライン受付", "オフライン受付として記録", "交付できるテスト選挙人がいません", False)
        else:
            local = term.checkin(b, CLERK)
            prov = term.record_provisional(local.seq) if local.seq is not None else None
            rep.add("オフライン受付", f"{b}: 交付して、オフライン受付（provisional）として記録",
                    f"{b}: " + (f"受付番号 {local.seq}、オフライン記録 {prov.seq}" if prov else "記録されませんでした"),
                    prov is not None)
        if sync is None:
            rep.add("通信の復帰と本部への送信", "試験記録の全部を本部の試験台帳が受け取る",
                    "未実施（本部の指定なし）", None)
        else:
            ok, seen = sync(term)
            rep.add("通信の復帰と本部への送信", "試験記録の全部を本部の試験台帳が受け取る", seen, ok)
        used = {a, b or ""}
        if sync is not None and resolve_at is not None and partner is not None:
            used.add(_online_double_vote(rep, term, cands, used, clock, partner, sync, resolve_at) or "")
        _double_vote(rep, tdir, term, cands, used, clock, partner, detect)
        v = term.verify()
        rep.add("試験記録の連鎖の検証", "ハッシュ連鎖が正常", f"{v.entries} 件" + ("、正常" if v.ok else f"、{v.problem}"), v.ok)
    after = _sha_files(tdir.root)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    rep.add("本番の記録に影響なし", "端末の本番ファイル（記録・名簿）が1バイトも変わらない",
            "変化なし" if not changed else "変化: " + "、".join(changed), not changed)
    return rep


def _online_double_vote(rep: RunReport, term: Terminal, cands: list[str], skip: set[str], clock: Clock,
                        partner: TerminalDir, sync: SyncRound, resolve_at: PartnerResolve) -> str | None:
    """Prevention when online: HQ's test ledger holds this station's ballot, so the partner's
    check-in of the same voter gets HQ's verdict 投票済 and every ballot is withheld there."""
    name = "二重投票の阻止（2 投票所、オンライン）"
    with open_test_terminal(partner, clock) as other:
        c = next((v for v in cands if v not in skip and _eligible(term, [v], set()) and _eligible(other, [v], set())),
                 None)
        if c is None:
            rep.add(name, "両方の投票所で交付できるテスト選挙人", "いません", False)
            return None
        here = term.checkin(c, CLERK)
        ok, seen = sync(term)
        if not ok:
            rep.add(name, f"{c}: 本部の試験台帳に {term.station.station_id} の交付が届く", seen, False)
            return c
        there = other.checkin(c, CLERK)
        handed = [str(x.contest) for x in there.handed]
        withheld = resolve_at(partner, other, there.seq, handed) if there.seq is not None else []
        rep.add(name, f"{c}: {term.station.station_id} で交付後、{other.station.station_id} では本部の判定で全部差し止め",
                f"{c}: {term.station.station_id} 交付 {len(here.handed)} 件、{other.station.station_id} 差し止め "
                f"{len(withheld)} / {len(handed)} 件", bool(handed) and sorted(withheld) == sorted(handed))
    return c


def _double_vote(rep: RunReport, tdir: TerminalDir, term: Terminal, cands: list[str], skip: set[str],
                 clock: Clock, partner: TerminalDir | None, detect: Detector | None) -> None:
    name = "二重投票の検出（2 投票所、オフライン）"
    if partner is None or detect is None:
        rep.add(name, "同じテスト選挙人を 2 投票所で受付 → 本部の検出器が二重投票として検出",
                "未実施（相手の端末の指定なし）", None)
        return
    with open_test_terminal(partner, clock) as other:
        if other.config.election_id != term.config.election_id:
            rep.add(name, "同じ選挙の試験", f"相手の端末は別の選挙です（{other.config.election_id}）", False)
            return
        c = next((v for v in cands if v not in skip and _eligible(term, [v], set()) and _eligible(other, [v], set())),
                 None)
        if c is None:
            rep.add(name, "両方の投票所で交付できるテスト選挙人", "いません", False)
            return
        here, there = term.checkin(c, CLERK), other.checkin(c, CLERK)
        for t, lc in ((term, here), (other, there)):
            if lc.seq is not None:
                t.record_provisional(lc.seq)
        evs = [(str(t.terminal_id), t.station.station_id, journal.entries_after(t.store, 0, 100000))
               for t in (term, other)]
        flagged = sorted(set(detect(evs)))
        mine = [x for x in flagged if x[0] == c]
        rep.add(name, f"{c}: {term.station.station_id} と {other.station.station_id} で受付 → 二重投票を検出",
                f"{c}: 交付 {len(here.handed)} 件 / {len(there.handed)} 件、検出 {len(mine)} 件"
                + (f"（{', '.join(x[1] for x in mine)}）" if mine else ""), bool(mine) and here.recorded and there.recorded)


# ---------------------------------------------------------------------------------------------
# ゼロ確認: finish, destroy the test area, prove the real journal is empty

# ``hq_versions()`` → ({"roll": n, "contests": [...]}, "") when HQ answered, else (None, why not)
HqVersions = Callable[[], tuple[dict[str, Any] | None, str]]


def _destroy(root: Path, out: _Shredded) -> None:
    """Shred every file under ``root`` (the test store first), then remove the directories."""
    files = sorted((p for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
                   key=lambda p: (p.name not in ("store.db", "store.db-wal", "test_roll.key"), str(p)))
    for p in files:
        _shred(p, out)
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():
        out.not_destroyed.append({"file": str(root), "error": "試験領域が残っています"})


def finish(tdir: TerminalDir, clock: Clock, *, hq_versions: HqVersions | None = None,
           run_report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Leave test mode: refuse when the real journal is not empty (nothing changed), else destroy
    the test area and return the zero proof (``zero_proof``)."""
    meta = _area_meta(tdir)
    ident = tdir.identity()
    lock = _lock_area(tdir)
    try:
        return _finish(tdir, clock, meta, ident, hq_versions, run_report)
    finally:
        os.close(lock)


def _finish(tdir: TerminalDir, clock: Clock, meta: dict[str, Any], ident: TerminalIdentity,
            hq_versions: HqVersions | None, run_report: dict[str, Any] | None) -> dict[str, Any]:
    with Terminal.open(tdir, clock) as real:  # station_closed when it is not open: the proof needs to read it
        eid = real.config.election_id
        head = real.head()
        counts = _kind_counts(real.store)
        genesis = genesis_hash(eid, real.terminal_id)
        if head.seq != 0:
            raise RealJournalNotEmpty(
                f"本番の受付記録が空ではありません（{head.seq} 件: "
                + "、".join(f"{k} {n}" for k, n in sorted(counts.items()))
                + "）。投票が始まった後のリハーサルは誤りです。試験の記録は消さずに残しました。本部に連絡してください",
                head_seq=head.seq, entries=counts)
        store_el = real.store.get_meta("election_id")
        marked = real.store.conn.execute("SELECT count(*) FROM voters WHERE substr(name, 1, ?) = ?",
                                         (len(NAME_MARK), NAME_MARK)).fetchone()[0]
        voted = real.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0]
        roll_version = real.store.get_meta("roll_version")
        j_el, j_term = journal.identity(real.store)
        contests = list(real.config.contest_ids)
    hq, why = hq_versions() if hq_versions is not None else (None, "本部を指定していません")
    test_store = area_dir(tdir)
    inst = _instance_of(test_store)
    out = _Shredded()
    _destroy(tdir.root / AREA, out)
    if inst is not None:  # the test store's head record, kept outside TDIR (freshness.py)
        _shred(freshness.head_dir() / freshness.record_name(meta["election"], ident.terminal_id, inst), out)
    checks = []

    def check(name: str, expected: str, seen: str, ok: bool | None) -> None:
        checks.append({"name": name, "expected": expected, "seen": seen,
                       "result": "未確認" if ok is None else "PASS" if ok else "FAIL"})

    check("本番の受付記録", "0 件、先頭 = 本番の選挙の起点（genesis）",
          f"{head.seq} 件、先頭 {head.hash.hex()[:16]}…（起点 {genesis.hex()[:16]}…）", head.seq == 0 and head.hash == genesis)
    check("本番の記録に試験の記録がない",
          f"記録・名簿とも選挙 {eid}、{NAME_MARK}の選挙人 0 人、投票済 0 件",
          f"記録 {j_el}、名簿 {store_el or '未導入'}、{NAME_MARK} {marked} 人、投票済 {voted} 件",
          j_el == eid and store_el in (eid, None) and marked == 0 and voted == 0)
    if hq is None:
        check("名簿・選挙の版が本部と一致", "本部の公開している版", f"未確認: {why}", None)
    else:
        ok = str(hq.get("roll")) == str(roll_version) and (hq.get("contests") is None or list(hq["contests"]) == contests)
        check("名簿・選挙の版が本部と一致", f"名簿 第{hq.get('roll')}版、選挙 {', '.join(hq.get('contests') or contests)}",
              f"名簿 第{roll_version}版、選挙 {', '.join(contests)}", ok)
    gone = not (tdir.root / AREA).exists() and not out.not_destroyed
    check("試験のデータの消去", "試験領域（記録・名簿・鍵）がすべて消去されている",
          f"消去 {len(out.destroyed)} ファイル" + ("" if gone else "、残り: " + "、".join(n["file"] for n in out.not_destroyed)),
          gone)
    verdict = "FAIL" if any(c["result"] == "FAIL" for c in checks) else (
        "PASS_UNCONFIRMED" if any(c["result"] == "未確認" for c in checks) else "PASS")
    proof = {"code": "ok" if verdict != "FAIL" else "zero_check_failed", "verdict": verdict,
             "terminal": ident.terminal_id, "station": ident.station_id, "election": eid,
             "rehearsal": meta["election"], "rehearsal_started_at": meta["started_at"],
             "finished_at": clock.now().isoformat(timespec="seconds"),
             "journal_head_seq": head.seq, "journal_head_hash": head.hash.hex(), "genesis_hash": genesis.hex(),
             "roll_version": roll_version, "contests": contests, "hq": hq, "hq_unconfirmed_reason": "" if hq else why,
             "checks": checks, "destroyed": out.destroyed, "not_destroyed": out.not_destroyed,
             "not_overwritten": out.not_overwritten}
    if run_report is not None:
        proof["run_verdict"] = run_report.get("verdict")
    write_atomic(tdir.root / "zero-proof.json", json.dumps(proof, ensure_ascii=False, indent=1).encode("utf-8"))
    return proof


def _instance_of(area: TerminalDir) -> str | None:
    if not area.store_path.exists():
        return None
    s = Store(area.store_path, key=None)
    try:
        return journal.instance(s)
    finally:
        s.close()


__all__ = ["AREA", "NAME_MARK", "RehearsalError", "RehearsalActive", "RehearsalInUse", "NotInRehearsal",
           "RealJournalNotEmpty", "RehearsalClock", "Step", "RunReport", "active", "area_dir", "start", "status", "run", "finish",
           "open_test_terminal", "test_config", "test_voters"]
