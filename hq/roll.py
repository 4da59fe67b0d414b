"""HQ's master roll (HQDIR/roll.db): import the municipality's export, publish signed versions.

Owns roll.db's schema and the roll version sequence. Imports rollcsv (parsing) and rollpkg
(format, signing); never imports the terminal's store tables, the network or the CLI.

Rules:
- ``import_roll`` replaces the master roll in ONE transaction; rows are written as they are
  parsed (bounded memory) and the transaction is rolled back when the file has any problem, so
  a bad file leaves the previous roll untouched;
- every publish takes the next version number (1, 2, …) and records what it published in
  ``published`` (one canonical line per voter); a later publish carries only the differences
  (``+`` 追加/訂正/抹消 as a changed row, ``-`` a voter no longer on the roll) against that
  record, unless ``full`` is asked for or nothing was published yet;
- the package file is written (fsynced) under HQDIR/rolls/ before the version is committed;
  if the commit fails the file is removed, so a version number never names two packages;
- the 在外選挙人名簿 (``zaigai*`` tables, migration 2) has its own version sequence and is always
  published whole, signed with the same key in the same layout (appliance/zaigaipkg.py);
- after an import or a publish, roll.db (a consistent snapshot) and the new package go to the
  other HQ node through the PostgreSQL store when there is one (hq/shared_files.py ``publish``);
- issue 19: ``birth_date`` holds the canonical text with 00 for a 不詳 part; ``atena`` (migration
  3) the 宛名番号 when the export has one; ``age_checks`` lists the voters whose age the known part
  cannot prove (年齢確認, for the console and ``meibo roll age-check``).
"""

from __future__ import annotations

import hashlib
import io
from contextlib import contextmanager
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ground.clock import Clock
from hq import shared_files
from appliance.birthdate import birth_wareki, from_canonical
from appliance.dirs import HqDir, write_atomic
from appliance.eligibility import Code, age_rule
from ground.errors import ApplianceError, MeiboError, RollInvalid, UsageError
from appliance.rollcsv import Limits as CsvLimits, iter_roll_file, parse_roll_stream
from appliance.rollmap import ColumnMap, to_canonical
from appliance.rollpkg import Kind, Manifest, Op, build_package, encode_voter
from appliance.store import Migration, Store, _script
from appliance.zaigaipkg import MAX_CSV_BYTES, ZaigaiVoter, build_zaigai_package, parse_zaigai_csv


def _m1(c: sqlite3.Connection) -> None:
    _script(
        c,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE roll (
            voter_id TEXT PRIMARY KEY, district INTEGER NOT NULL, name TEXT NOT NULL,
            kana TEXT NOT NULL, birth_date TEXT NOT NULL, sex TEXT NOT NULL, address TEXT NOT NULL,
            status TEXT NOT NULL, display_reason TEXT, moved_on TEXT, moved_within_pref INTEGER,
            page INTEGER, line INTEGER,
            canon TEXT NOT NULL  -- the package's canonical row (rollpkg.encode_voter)
        ) WITHOUT ROWID;
        CREATE TABLE published (voter_id TEXT PRIMARY KEY, canon TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE versions (
            version INTEGER PRIMARY KEY, kind TEXT NOT NULL, base_version INTEGER,
            row_count INTEGER NOT NULL, body_sha256 TEXT NOT NULL, created TEXT NOT NULL,
            file TEXT NOT NULL
        );
        """
    )


def _m2(c: sqlite3.Connection) -> None:
    # 在外選挙人名簿: its own rows, designated stations and version sequence (zaigai_* below).
    _script(
        c,
        """
        CREATE TABLE zaigai (
            zaigai_id TEXT PRIMARY KEY, card_no TEXT NOT NULL UNIQUE, name TEXT NOT NULL, kana TEXT NOT NULL,
            birth_date TEXT NOT NULL, sex TEXT NOT NULL, last_address TEXT NOT NULL, country TEXT NOT NULL,
            status TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE zaigai_designated (station_id TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE zaigai_versions (
            version INTEGER PRIMARY KEY, row_count INTEGER NOT NULL, body_sha256 TEXT NOT NULL,
            designated TEXT NOT NULL, created TEXT NOT NULL, file TEXT NOT NULL
        );
        """
    )


def _m3(c: sqlite3.Connection) -> None:
    # 宛名番号 (issue 19): kept when the export has it, never two rows with one. Existing rows keep
    # NULL (the roll they came from had no such column). birth_date needs no change: its text is
    # the canonical form, a 不詳 part written 00 (ground/birthdate.py).
    _script(
        c,
        """
        ALTER TABLE roll ADD COLUMN atena TEXT;
        CREATE UNIQUE INDEX roll_atena ON roll(atena) WHERE atena IS NOT NULL;
        """
    )


HQ_ROLL_MIGRATIONS: list[Migration] = [_m1, _m2, _m3]


def open_roll_db(hq: HqDir) -> Store:
    return Store(hq.roll_db, migrations=HQ_ROLL_MIGRATIONS)


def published_version(hq: HqDir) -> int:
    """The latest signed roll version HQ has published (0 before the first): what the sync
    WELCOME tells terminals, so a station's opening check can compare versions (高知 2025)."""
    if not hq.roll_db.exists():
        return 0
    store = open_roll_db(hq)
    try:
        row = store.conn.execute("SELECT coalesce(max(version), 0) FROM versions").fetchone()
        return int(row[0])
    finally:
        store.close()


@dataclass(frozen=True)
class ImportResult:
    rows: int
    by_status: dict[str, int]
    source_sha256: str


def import_roll(hq: HqDir, csv_path: Path, clock: Clock, limits: CsvLimits = CsvLimits(),
                column_map: ColumnMap | None = None) -> ImportResult:
    """Replace HQ's master roll with ``csv_path``; raise ``RollInvalid`` (nothing changed) on any problem.

    With ``column_map`` (列対応表, issue 19) the municipality's own export is read through it; the
    map's checks (宛名番号) run over the whole file before anything is written.
    """
    cfg = hq.config()
    mapped = to_canonical(csv_path, column_map, limits=limits) if column_map is not None else None
    store = open_roll_db(hq)
    by_status: dict[str, int] = {}
    try:
        with store.atomic() as conn:
            conn.execute("DELETE FROM roll")

            def rows() -> Iterator[tuple[Any, ...]]:
                voters = (iter_roll_file(csv_path, limits=limits, election_day=cfg.election_day) if mapped is None
                          else parse_roll_stream(io.BytesIO(mapped), str(csv_path), limits=limits,
                                                 election_day=cfg.election_day))
                for v in voters:
                    by_status[v.status.value] = by_status.get(v.status.value, 0) + 1
                    yield (v.voter_id, v.district, v.name, v.name_kana, v.birth_date.isoformat(), v.sex.value,
                           v.address, v.status.value, v.display_reason.value if v.display_reason else None,
                           v.moved_on.isoformat() if v.moved_on else None,
                           None if v.moved_within_prefecture is None else int(v.moved_within_prefecture),
                           v.page, v.line, encode_voter(v), v.atena)

            conn.execute("PRAGMA cache_size=-131072")
            conn.executemany("INSERT INTO roll(voter_id, district, name, kana, birth_date, sex, address, status, "
                             "display_reason, moved_on, moved_within_pref, page, line, canon, atena) "
                             "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
            conn.execute("PRAGMA cache_size=-2000")
            digest = _file_sha256(csv_path)
            for k, val in (("imported_at", clock.now().isoformat()), ("import_source", str(csv_path)),
                           ("import_sha256", digest), ("import_rows", str(sum(by_status.values())))):
                store.set_meta(conn, k, val)
    except sqlite3.IntegrityError as e:  # the parser already refuses duplicates; belt and braces
        raise RollInvalid(f"名簿を取り込めません: {e}", code="roll_invalid") from e
    finally:
        store.close()
    shared_files.publish(hq)  # to the other HQ node (module doc)
    return ImportResult(sum(by_status.values()), by_status, digest)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class PublishResult:
    manifest: Manifest
    path: Path  # the copy under HQDIR/rolls/
    size: int


class RollUnchanged(UsageError):
    code = "roll_unchanged"


class RollNotImported(UsageError):
    code = "roll_not_imported"


_DELTA_SQL = """
    SELECT voter_id, '+', canon FROM roll r
     WHERE NOT EXISTS (SELECT 1 FROM published p WHERE p.voter_id = r.voter_id AND p.canon = r.canon)
    UNION ALL
    SELECT voter_id, '-', voter_id FROM published p
     WHERE NOT EXISTS (SELECT 1 FROM roll r WHERE r.voter_id = p.voter_id)
    ORDER BY 1
"""


def _roll_seed(hq: HqDir) -> bytes:
    """The Ed25519 seed that signs every roll package (main and 在外)."""
    seed = hq.roll_key.read_bytes()
    if len(seed) != 32:
        raise ApplianceError(f"署名鍵の形式が正しくありません: {hq.roll_key}", code="roll_key_invalid")
    return seed


@contextmanager
def _publishing(hq: HqDir) -> Iterator[tuple[sqlite3.Connection, list[Path]]]:
    """One publish transaction on roll.db. Package files appended to the yielded list were written
    for this version; if the transaction does not commit they are removed, so a version number
    never names a file that was not recorded."""
    store = open_roll_db(hq)
    written: list[Path] = []
    try:
        with store.atomic() as conn:
            yield conn, written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    finally:
        store.close()


def publish(hq: HqDir, out: Path | None, clock: Clock, *, full: bool = False) -> PublishResult:
    """Sign and write the next roll version (a delta unless ``full`` or nothing was published)."""
    cfg = hq.config()
    seed = _roll_seed(hq)
    with _publishing(hq) as (conn, written):
        if conn.execute("SELECT 1 FROM roll LIMIT 1").fetchone() is None:
            raise RollNotImported("名簿がまだ取り込まれていません（先に meibo roll import を実行してください）")
        last = conn.execute("SELECT max(version) FROM versions").fetchone()[0]
        version = (last or 0) + 1
        kind: Kind = "full" if (full or last is None) else "delta"
        if kind == "full":
            cur = conn.execute("SELECT '+', canon FROM roll ORDER BY voter_id")
        else:
            cur = conn.execute(_DELTA_SQL)
            cur = (row[1:] for row in cur)  # type: ignore[assignment]
        ops: Iterator[tuple[Op, str]] = ((op, payload) for op, payload in cur)
        data, manifest = build_package(election_id=cfg.election_id, version=version,
                                       base_version=None if kind == "full" else last, kind=kind,
                                       ops=ops, created=clock.now().isoformat(timespec="seconds"), seed=seed)
        if kind == "delta" and manifest.row_count == 0:
            raise RollUnchanged(f"前回の公開（第 {last} 版）から名簿に変更がありません（全件を出すには --full）")
        path = hq.rolls / f"roll-v{version:04d}-{kind}.mbr"
        written.append(path)
        write_atomic(path, data)
        if kind == "full":
            conn.execute("DELETE FROM published")
            conn.execute("INSERT INTO published SELECT voter_id, canon FROM roll")
        else:
            conn.execute("DELETE FROM published WHERE voter_id NOT IN (SELECT voter_id FROM roll)")
            conn.execute("INSERT OR REPLACE INTO published SELECT voter_id, canon FROM roll r WHERE NOT EXISTS "
                         "(SELECT 1 FROM published p WHERE p.voter_id = r.voter_id AND p.canon = r.canon)")
        conn.execute("INSERT INTO versions VALUES (?,?,?,?,?,?,?)",
                     (version, kind, manifest.base_version, manifest.row_count, manifest.body_sha256,
                      manifest.created, str(path)))
    shared_files.publish(hq)  # to the other HQ node (module doc)
    if out is not None and out.resolve() != path.resolve():
        write_atomic(out, data)
    return PublishResult(manifest, path, len(data))


def versions(hq: HqDir) -> list[dict[str, Any]]:
    store = open_roll_db(hq)
    try:
        cur = store.conn.execute("SELECT version, kind, base_version, row_count, body_sha256, created, file "
                                 "FROM versions ORDER BY version")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur]
    finally:
        store.close()


# ---- 在外選挙人名簿 (the second roll: national contests, early and designated stations) -------------

@dataclass(frozen=True)
class ZaigaiImportResult:
    rows: int
    registered: int
    designated: tuple[str, ...]
    source_sha256: str


def import_zaigai(hq: HqDir, csv_path: Path, designated: Sequence[str], clock: Clock) -> ZaigaiImportResult:
    """Replace HQ's 在外選挙人名簿 and its designated stations with ``csv_path`` in ONE transaction.

    The whole file is checked before the transaction starts (every problem with row and column,
    ``RollInvalid``); a designated station must be one of the election's stations. On any error
    nothing changes."""
    cfg = hq.config()
    known = {s.station_id for s in cfg.stations}
    stations = tuple(sorted({s.strip() for s in designated if s.strip()}))
    unknown = [s for s in stations if s not in known]
    if unknown:
        raise UsageError(f"指定投票所 {'、'.join(unknown)} はこの選挙の投票所にありません（{'、'.join(sorted(known))}）",
                         code="station_unknown")
    try:
        if csv_path.stat().st_size > MAX_CSV_BYTES:
            raise UsageError(f"在外選挙人名簿のファイルが大きすぎます: {csv_path}", code="file_too_large")
        raw = csv_path.read_bytes()
    except OSError as e:
        raise UsageError(f"在外選挙人名簿を読めません: {csv_path} ({e.strerror})", code="file_unreadable")
    voters = parse_zaigai_csv(raw, str(csv_path))
    digest = hashlib.sha256(raw).hexdigest()
    store = open_roll_db(hq)
    try:
        with store.atomic() as conn:
            conn.execute("DELETE FROM zaigai")
            conn.executemany("INSERT INTO zaigai VALUES (?,?,?,?,?,?,?,?,?)",
                             [(v.zaigai_id, v.card_no, v.name, v.kana, v.birth_date.isoformat(), v.sex,
                               v.last_address, v.country, v.status) for v in voters])
            conn.execute("DELETE FROM zaigai_designated")
            conn.executemany("INSERT INTO zaigai_designated VALUES (?)", [(s,) for s in stations])
            for k, val in (("zaigai_imported_at", clock.now().isoformat()), ("zaigai_import_source", str(csv_path)),
                           ("zaigai_import_sha256", digest), ("zaigai_import_rows", str(len(voters)))):
                store.set_meta(conn, k, val)
    finally:
        store.close()
    shared_files.publish(hq)  # to the other HQ node (module doc)
    return ZaigaiImportResult(len(voters), sum(v.status == "registered" for v in voters), stations, digest)


class ZaigaiUnchanged(UsageError):
    code = "zaigai_unchanged"


class ZaigaiNotImported(UsageError):
    code = "zaigai_not_imported"


def publish_zaigai(hq: HqDir, out: Path | None, clock: Clock) -> PublishResult:
    """Sign the whole 在外 roll and its designated stations as the next 在外 version, with the roll
    key (rollpkg's layout, format ``meibo-zaigai/1``; file HQDIR/rolls/zaigai-vNNNN.mbr). Refused
    when nothing was imported or nothing changed since the last publish."""
    cfg = hq.config()
    seed = _roll_seed(hq)
    with _publishing(hq) as (conn, written):
        if conn.execute("SELECT 1 FROM meta WHERE key='zaigai_imported_at'").fetchone() is None:
            raise ZaigaiNotImported("在外選挙人名簿がまだ取り込まれていません（先に meibo hq zaigai-import を実行してください）")
        voters = [ZaigaiVoter(r[0], r[1], r[2], r[3], date.fromisoformat(r[4]), r[5], r[6], r[7], r[8])
                  for r in conn.execute("SELECT * FROM zaigai ORDER BY zaigai_id")]
        stations = [r[0] for r in conn.execute("SELECT station_id FROM zaigai_designated ORDER BY station_id")]
        last = conn.execute("SELECT version, body_sha256, designated FROM zaigai_versions "
                            "ORDER BY version DESC LIMIT 1").fetchone()
        version = (last[0] if last else 0) + 1
        data, manifest = build_zaigai_package(election_id=cfg.election_id, version=version, voters=voters,
                                              designated=stations, created=clock.now().isoformat(timespec="seconds"),
                                              seed=seed)
        if last is not None and last[1] == manifest.body_sha256 and last[2] == ",".join(stations):
            raise ZaigaiUnchanged(f"前回の公開（在外選挙人名簿 第 {last[0]} 版）から変更がありません")
        path = hq.rolls / f"zaigai-v{version:04d}.mbr"
        written.append(path)
        write_atomic(path, data)
        conn.execute("INSERT INTO zaigai_versions VALUES (?,?,?,?,?,?)",
                     (version, manifest.row_count, manifest.body_sha256, ",".join(stations), manifest.created,
                      str(path)))
    shared_files.publish(hq)  # to the other HQ node (module doc)
    if out is not None and out.resolve() != path.resolve():
        write_atomic(out, data)
    return PublishResult(manifest, path, len(data))


def published_zaigai_version(hq: HqDir) -> int:
    """The latest 在外 version HQ has published (0 before the first): WELCOME's ``zaigai``."""
    if not hq.roll_db.exists():
        return 0
    store = open_roll_db(hq)
    try:
        row = store.conn.execute("SELECT coalesce(max(version), 0) FROM zaigai_versions").fetchone()
        return int(row[0])
    finally:
        store.close()


def zaigai_version_or_none(hq: HqDir) -> int | None:
    """``published_zaigai_version`` for the sync server: None (WELCOME leaves the field out, so
    terminals do not compare) when roll.db cannot be read just now, never a false 0."""
    try:
        return published_zaigai_version(hq)
    except (MeiboError, OSError, sqlite3.Error):
        return None


# ---- 年齢確認 (issue 19): voters whose 生年月日 不詳 leaves the 18-year rule open --------------------

@dataclass(frozen=True)
class AgeCheck:
    """One voter the console lists: the poll worker must confirm the age from an ID (年齢確認)."""

    voter_id: str
    district: int
    name: str
    kana: str
    birth_date: str  # canonical text, 00 for a 不詳 part (ground/birthdate.py)
    birth_ja: str  # 和暦 for the screen: 昭和20年3月不詳
    code: str  # age_confirm_id (the ID decides) or underage (the known part proves under 18)
    reason: str  # Japanese, as the kiosk shows it

    def as_json(self) -> dict[str, Any]:
        return {"voter_id": self.voter_id, "district": self.district, "name": self.name, "kana": self.kana,
                "birth_date": self.birth_date, "birth_wareki": self.birth_ja, "code": self.code,
                "reason": self.reason}


def age_checks(hq: HqDir) -> list[AgeCheck]:
    """Voters of the master roll whose age the known part of a 不詳 birth date cannot prove on
    election day (``age_confirm_id``) or proves under 18 (``underage``), in kana order; 抹消 and
    失権 rows are left out (they get no ballot anyway). Reads roll.db only; [] before an import."""
    if not hq.roll_db.exists():
        return []
    day = hq.config().election_day
    store = open_roll_db(hq)
    try:
        rows = store.conn.execute(
            "SELECT voter_id, district, name, kana, birth_date FROM roll WHERE (birth_date LIKE '%-00' "
            "OR birth_date LIKE '%-00-%' OR birth_date LIKE '0000-%') AND status != 'deleted' "
            "AND coalesce(display_reason, '') != 'lost_rights' ORDER BY kana, voter_id").fetchall()
    finally:
        store.close()
    out = []
    for vid, district, name, kana, text in rows:
        birth = from_canonical(str(text))
        code, why = age_rule(birth, day)
        if code is not Code.OK:
            out.append(AgeCheck(str(vid), int(district), str(name), str(kana), str(text), birth_wareki(birth),
                                code.value, why))
    return out


__all__ = ["import_roll", "publish", "versions", "ImportResult", "PublishResult", "RollUnchanged",
           "RollNotImported", "open_roll_db", "import_zaigai", "publish_zaigai", "published_zaigai_version",
           "zaigai_version_or_none", "ZaigaiImportResult", "ZaigaiUnchanged", "ZaigaiNotImported", "AgeCheck",
           "age_checks"]
