"""The station terminal (名簿対照端末): check-in, withhold, provisional, void, remote flags.

A ``Terminal`` is opened from an enrolled ``TerminalDir`` with a ``Clock``. Its rules:
- A check-in decides eligibility and records it in ONE ``Store.atomic()`` transaction: the voter
  row, the known voted flags and the journal head are all read inside ``BEGIN IMMEDIATE``, so two
  processes checking in one voter serialise and the second sees the first's ballots.
- The ``checkin`` entry names only the ballots to hand over; nothing is appended when none is.
- 年齢確認 (生年月日 不詳, issue 19): a voter whose age the known part of the birth date cannot
  prove gets ``age_confirm_id`` and nothing is recorded, unless ``marks`` carries
  ``age_confirmed`` (the ID kind the poll worker saw, ``eligibility.AGE_ID_KINDS``); then the
  ballots are handed and the mark is a field of the ``checkin`` entry, so it survives restart,
  export and reaches HQ with the journal. The mark is dropped when the voter did not need it.
  Only after the transaction committed (fsynced) is the poll worker told to hand them over.
- ``voted`` holds every ballot this terminal knows was handed over (own check-ins and HQ's stream
  of flags from elsewhere); releasing a ballot (void, withheld) removes only this terminal's rows
  of that check-in.
- The journal is never rewritten: corrections are new entries.
- Opening checks the store against its head record kept outside TDIR (appliance/freshness.py):
  a store rolled back (an older copy, a deleted WAL) is refused with ``store_rolled_back``.
- Any SQLite failure during a write (disk full, read-only) surfaces as ``StorageFailed``: the
  check-in was NOT recorded and nothing was appended.

Does not talk to HQ: the sync layer calls ``record_withheld``/``record_provisional`` with HQ's
verdict and ``apply_voted_flags`` for flags from HQ's stream. Never imports UI or network code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from appliance import freshness, journal
from ground.clock import JST, Clock
from ground.config import load_config
from appliance.dirs import TerminalDir, write_private
from appliance.birthdate import from_canonical
from appliance.eligibility import AGE_ID_KINDS, ContestDecision, Decision, VotedInfo, decide
from ground.errors import ApplianceError, NotFound, StorageFailed, UsageError
from ground.events import MAX_STR, Event, EventKind, decode
from ground.hlc import HybridClock, wall_ms_of
from ground.model import (ClerkId, ContestId, DisplayReason, ElectionConfig, Sex, Station,
                             Status, TerminalId, Voter, VoterId)
from appliance.store import DB_ERRORS, Store

META_HLC = "hlc.observed"  # highest HLC observed from HQ's stream (restores the clock)
# One voted flag from HQ's stream: (voter, contest, delta, station, terminal, seq, hlc).
VotedFlag = tuple[str, str, int, str, str, int, int]
LOOKUP_VIA = ("scan", "search")  # 入場券の読取 / 氏名・番号の検索
MARK_KEYS: dict[str, type] = {"proxy": bool, "braille": bool, "oath_reason": str,  # 代理・点字・宣誓書事由
                              "age_confirmed": str}  # 年齢確認: the ID seen (AGE_ID_KINDS)


class VoidRefused(ApplianceError):
    """The entry cannot be voided (not a check-in, already voided, or withheld entirely)."""

    code = "void_refused"


class WithholdRefused(ApplianceError):
    code = "withhold_refused"


@dataclass(frozen=True)
class LocalCheckin:
    """The terminal's own answer to one check-in, recorded durably before it is shown."""

    voter: Voter
    decision: Decision
    seq: int | None  # journal seq of the ``checkin`` entry; None when nothing was handed
    event: Event | None

    @property
    def handed(self) -> tuple[ContestDecision, ...]:
        return self.decision.handed

    @property
    def refused(self) -> tuple[ContestDecision, ...]:
        return self.decision.refused

    @property
    def recorded(self) -> bool:
        return self.seq is not None


# ---------------------------------------------------------------------------------------------
# roll rows → Voter

_VOTER_COLUMNS = ("voter_id", "district", "name", "kana", "birth_date", "sex", "address", "status",
                  "display_reason", "moved_on", "moved_within_pref")
_VOTER_SQL = ", ".join(_VOTER_COLUMNS)


def voter_from_row(row: Mapping[str, Any]) -> Voter:
    """Map a ``voters`` table row (appliance/store.py columns) to a ``Voter``."""
    dr = row["display_reason"]
    mwp = row["moved_within_pref"]
    return Voter(
        voter_id=VoterId(str(row["voter_id"])), district=int(row["district"]), name=str(row["name"]),
        name_kana=str(row["kana"]), birth_date=from_canonical(str(row["birth_date"])),
        sex=Sex(str(row["sex"])), address=str(row["address"]), status=Status(str(row["status"])),
        display_reason=DisplayReason(str(dr)) if dr else None,
        moved_on=date.fromisoformat(str(row["moved_on"])) if row["moved_on"] else None,
        moved_within_prefecture=None if mwp is None else bool(mwp),
    )


def hlc_to_jst(ts: int) -> datetime:
    return datetime.fromtimestamp(wall_ms_of(ts) / 1000, JST)


# ---------------------------------------------------------------------------------------------
# supervisor PIN (投票管理者): stored as a salted scrypt hash, never in clear

def hash_pin(pin: str, salt: bytes) -> dict[str, Any]:
    h = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=1 << 14, r=8, p=1, dklen=32)
    return {"scheme": "scrypt", "n": 1 << 14, "r": 8, "p": 1, "salt": salt.hex(), "hash": h.hex()}


def write_pin(tdir: TerminalDir, pin: str, *, randbytes: Callable[[int], bytes] = os.urandom) -> None:
    """Store the supervisor PIN's scrypt hash; the salt comes from ``randbytes`` (STYLE rule 6)."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise UsageError("PIN は 4〜12 桁の数字にしてください", code="pin_invalid")
    write_private(tdir.root / "keys" / "supervisor.pin",
                  json.dumps(hash_pin(pin, randbytes(16))).encode("utf-8"))


def check_pin(tdir: TerminalDir, pin: str) -> bool:
    try:
        d = json.loads((tdir.root / "keys" / "supervisor.pin").read_text("utf-8"))
    except FileNotFoundError:
        return False
    want = hash_pin(pin, bytes.fromhex(d["salt"]))["hash"]
    return hmac.compare_digest(want, d["hash"])


# ---------------------------------------------------------------------------------------------

class Terminal:
    def __init__(self, tdir: TerminalDir, clock: Clock, *, config: ElectionConfig | None = None) -> None:
        self.tdir = tdir
        self.clock = clock
        ident = tdir.identity()
        self.config = config or load_config(tdir.config_path)
        if self.config.election_id != ident.election_id:
            raise UsageError(f"election.toml の選挙（{self.config.election_id}）と端末の登録（{ident.election_id}）が一致しません",
                             code="identity_mismatch")
        self.terminal_id: TerminalId = ident.terminal_id
        try:
            self.station: Station = self.config.station(ident.station_id)
        except KeyError:
            raise UsageError(f"投票所 {ident.station_id} が election.toml にありません", code="station_unknown")
        if not tdir.store_path.exists():
            raise UsageError(f"端末のデータベースがありません: {tdir.store_path}", code="not_enrolled")
        self.store = Store(tdir.store_path)
        try:
            journal.init(self.store, self.config.election_id, self.terminal_id)
            self.head_record = freshness.guard(self.store, tdir.root)
        except BaseException:
            self.store.close()
            raise
        last = max(journal.head(self.store).hlc, int(self.store.get_meta(META_HLC, "0") or 0))
        self.hlc = HybridClock(clock, last)

    @classmethod
    def open(cls, tdir: TerminalDir, clock: Clock) -> "Terminal":
        return cls(tdir, clock)

    def close(self) -> None:
        journal.watch(self.store, None)
        self.head_record.close()
        self.store.close()

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """``store.atomic()`` with SQLite errors inside it turned into ``StorageFailed``."""
        try:
            with self.store.atomic() as conn:
                yield conn
        except DB_ERRORS as e:
            raise StorageFailed(f"記録を保存できませんでした（ディスクの空きや書き込み権限を確認してください）: {e}") from e

    # -- reads ------------------------------------------------------------------------------

    def voter(self, voter_id: str, conn: sqlite3.Connection | None = None) -> Voter:
        c = conn or self.store.conn
        row = c.execute(f"SELECT {_VOTER_SQL} FROM voters WHERE voter_id=?", (voter_id,)).fetchone()
        if row is None:
            raise NotFound(f"選挙人番号 {voter_id} は名簿にありません", voter=voter_id)
        return voter_from_row(dict(zip(_VOTER_COLUMNS, row)))

    def known_voted(self, voter_id: str, conn: sqlite3.Connection | None = None) -> dict[ContestId, VotedInfo]:
        c = conn or self.store.conn
        rows = c.execute("SELECT contest, terminal, station, hlc, seq FROM voted WHERE voter_id=?", (voter_id,))
        return {ContestId(r[0]): VotedInfo(r[2], r[1], hlc_to_jst(int(r[3])) if r[3] else None, int(r[4]))
                for r in rows}

    def decide(self, voter_id: str) -> tuple[Voter, Decision]:
        """Eligibility now, without recording anything (a preview for the screen)."""
        v = self.voter(voter_id)
        return v, decide(self.config, self.station, v, self.clock.now(), self.known_voted(voter_id))

    # -- writes -----------------------------------------------------------------------------

    def checkin(self, voter_id: str, clerk: str, marks: Mapping[str, Any] | None = None) -> LocalCheckin:
        """Decide and record one check-in durably; ``seq`` is None when no ballot is handed."""
        extra = _marks(marks or {})
        if len(clerk) > MAX_STR:
            raise UsageError("担当者IDが長すぎます", code="clerk_invalid")
        if (self.tdir.root / "rehearsal").exists():  # 試験モード (appliance/rehearsal.py): test area present
            raise ApplianceError("この端末は試験モード（リハーサル）中のため本番の受付はできません。"
                                 "投票管理者が試験モードを終了（ゼロ確認）してください", code="rehearsal_active")
        voter_id = voter_id.strip()
        with self._write() as conn:
            v = self.voter(voter_id, conn)
            now, known = self.clock.now(), self.known_voted(voter_id, conn)
            d = decide(self.config, self.station, v, now, known)
            if d.needs_age_confirm and "age_confirmed" in extra:
                d = decide(self.config, self.station, v, now, known, age_confirmed=True)
            else:
                extra.pop("age_confirmed", None)  # record a 年齢確認 only where one was needed
            if not d.handed:
                return LocalCheckin(v, d, None, None)
            contests = [c.contest for c in d.handed]
            ev = journal.append(self.store, conn, EventKind.CHECKIN,
                                {"station": self.station.station_id, "clerk": ClerkId(clerk),
                                 "voter": v.voter_id, "contests": list(contests), **extra}, self.hlc)
            conn.executemany(
                "INSERT INTO voted(voter_id, contest, terminal, station, hlc, seq) VALUES(?, ?, ?, ?, ?, ?)",
                [(v.voter_id, c, self.terminal_id, self.station.station_id, ev.hlc, ev.seq) for c in contests])
        return LocalCheckin(v, d, ev.seq, ev)

    def _own_checkin(self, conn: sqlite3.Connection, seq: int, err: type[ApplianceError]) -> Event:
        ev = journal.entry(self.store, seq, conn)
        if ev is None:
            raise NotFound(f"受付記録 {seq} 番はありません", seq=seq)
        if ev.kind is not EventKind.CHECKIN:
            raise err(f"受付記録 {seq} 番は受付（checkin）ではありません（{ev.kind.value}）", seq=seq)
        return ev

    def _released(self, conn: sqlite3.Connection, ref: int) -> tuple[bool, set[str]]:
        """(voided?, contests withheld) for check-in ``ref``, from the journal itself."""
        voided, withheld = False, set()
        for (body,) in conn.execute("SELECT body FROM journal WHERE kind IN ('void', 'withheld') ORDER BY seq"):
            ev = decode(bytes(body))
            if ev.data.get("ref") != ref:
                continue
            if ev.kind is EventKind.VOID:
                voided = True
            else:
                withheld |= set(ev.contests)
        return voided, withheld

    def record_withheld(self, ref: int, contests: list[str]) -> Event:
        """HQ said ALREADY_VOTED in time: these ballots of check-in ``ref`` were NOT handed over."""
        with self._write() as conn:
            ev = self._own_checkin(conn, ref, WithholdRefused)
            voided, withheld = self._released(conn, ref)
            unknown = [c for c in contests if c not in ev.contests]
            if voided or unknown or not contests or set(contests) & withheld:
                raise WithholdRefused(f"受付記録 {ref} 番の {contests} は差し止めできません", ref=ref)
            out = journal.append(self.store, conn, EventKind.WITHHELD,
                                 {"ref": ref, "contests": list(contests)}, self.hlc)
            conn.executemany("DELETE FROM voted WHERE voter_id=? AND contest=? AND terminal=? AND seq=?",
                             [(ev.voter, c, self.terminal_id, ref) for c in contests])
        return out

    def record_provisional(self, ref: int) -> Event:
        """No HQ verdict within the budget: the ballots were handed over as オフライン受付."""
        with self._write() as conn:
            self._own_checkin(conn, ref, UsageError)
            return journal.append(self.store, conn, EventKind.PROVISIONAL, {"ref": ref}, self.hlc)

    def void(self, seq: int, reason: str, clerk: str) -> Event:
        """取消: the voter left without voting. Releases that check-in's ballots on this terminal."""
        reason = reason.strip()
        if not reason or len(reason) > MAX_STR:
            raise UsageError(f"取消の理由を 1〜{MAX_STR} 文字で入力してください", code="reason_invalid")
        with self._write() as conn:
            ev = self._own_checkin(conn, seq, VoidRefused)
            voided, withheld = self._released(conn, seq)
            if voided:
                raise VoidRefused(f"受付記録 {seq} 番はすでに取り消されています", seq=seq)
            if withheld >= set(ev.contests):
                raise VoidRefused(f"受付記録 {seq} 番の投票用紙はすべて差し止め済みで、取り消すものがありません", seq=seq)
            out = journal.append(self.store, conn, EventKind.VOID,
                                 {"ref": seq, "reason": reason, "clerk": clerk}, self.hlc)
            conn.execute("DELETE FROM voted WHERE terminal=? AND seq=?", (self.terminal_id, seq))
        return out

    def apply_voted_flags(self, conn: sqlite3.Connection, flags: Iterable[VotedFlag]) -> None:
        """Voted flags from HQ's stream, inside the caller's transaction (the sync agent commits
        them with its new cursor): ``delta`` +1 a ballot handed elsewhere, -1 that ballot voided
        there. Flags of this terminal's own check-ins are skipped (the journal has them).

        First flag wins per voter and contest (``INSERT OR IGNORE``): HQ streams in ledger order,
        so the first is the ballot HQ accepted first, and the station a hard stop names stays the
        one that voted first. The highest HLC seen is kept in meta, so a restarted terminal's clock
        starts past every flag it holds (``Terminal.__init__`` restores it from there)."""
        top = 0
        for voter, contest, delta, station, terminal, seq, hlc in flags:
            if terminal == self.terminal_id:
                continue
            if delta > 0:
                conn.execute("INSERT OR IGNORE INTO voted(voter_id, contest, terminal, station, hlc, seq) "
                             "VALUES(?, ?, ?, ?, ?, ?)", (voter, contest, terminal, station, hlc, seq))
            else:
                conn.execute("DELETE FROM voted WHERE voter_id=? AND contest=? AND terminal=? AND seq=?",
                             (voter, contest, terminal, seq))
            self.hlc.observe(hlc)
            top = max(top, hlc)
        if top > int(self.store.get_meta(META_HLC, "0") or 0):
            self.store.set_meta(conn, META_HLC, str(top))

    def record_lookup(self, voter_ids: list[str], via: str, clerk: str | None = None) -> list[Event]:
        """Audit: the roll rows of ``voter_ids`` were shown (``via`` scan or search), one
        ``lookup`` entry each, in one transaction. Shipped to HQ with the journal."""
        if via not in LOOKUP_VIA:
            raise UsageError(f"検索の種別が不正です: {via!r}（scan / search）", code="usage")
        if clerk is not None and len(clerk) > MAX_STR:
            raise UsageError("担当者IDが長すぎます", code="clerk_invalid")
        out: list[Event] = []
        if not voter_ids:
            return out
        with self._write() as conn:
            for v in voter_ids:
                data: dict[str, Any] = {"voter": str(v)[:MAX_STR], "via": via}
                if clerk:
                    data["clerk"] = clerk
                out.append(journal.append(self.store, conn, EventKind.LOOKUP, data, self.hlc))
        return out

    def record_station(self, action: str, clerk: str | None = None) -> Event:
        """開設 / 閉鎖 of the station (``action`` open or close), in the journal."""
        if action not in ("open", "close"):
            raise UsageError(f"action が不正です: {action!r}", code="usage")
        data: dict[str, Any] = {"action": action}
        if clerk:
            data["clerk"] = clerk[:MAX_STR]
        with self._write() as conn:
            return journal.append(self.store, conn, EventKind.STATION, data, self.hlc)

    def verify(self) -> journal.VerifyReport:
        return journal.verify(self.store, self.config.election_id, self.terminal_id)

    def head(self) -> journal.Head:
        return journal.head(self.store)


def _marks(marks: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in marks.items():
        t = MARK_KEYS.get(k)
        if t is None or not isinstance(v, t):
            raise UsageError(f"受付の付記が不正です: {k}={v!r}（proxy / braille / oath_reason / age_confirmed）",
                             code="marks_invalid")
        if isinstance(v, str) and len(v) > MAX_STR:
            raise UsageError(f"受付の付記が長すぎます: {k}", code="marks_invalid")
        if k == "age_confirmed" and v not in AGE_ID_KINDS:
            raise UsageError(f"年齢確認に使った書類の種類が不正です: {v!r}（{' / '.join(AGE_ID_KINDS)}）",
                             code="age_id_invalid")
        if v is not False and v != "":
            out[k] = v
    return out
