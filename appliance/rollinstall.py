"""Installing a verified roll package into the terminal's store (名簿の導入), in one transaction.

The package format and its verification are ``appliance/rollpkg.py`` (pure); this module is the
store side: the election, version and delta-base checks made inside the write transaction, and the
bulk load. Never imports the CLI, the network or the journal: installing a roll records only the
roll and its meta keys. Raw sqlite3 ``executemany`` here: this is the hot path of a 1M-voter install.
A full roll's rows are checked a decompressed chunk at a time (``_chunk_fields``: the same checks
as the row-by-row ``_chunk_rows``, which still runs on any chunk that fails, to name the bad row);
bench/roll.py measures it against a bare load of the same rows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice, repeat
from operator import lt
from typing import Any

from ground.errors import RollRejected
from appliance.rollpkg import (FULL_CHUNK, VOTER_ID, BadRow, Limits, Manifest, body_invalid, check_birth, iter_lines,
                               iter_text, open_package, row_tuple)
from appliance.store import Store

@dataclass(frozen=True)
class InstallResult:
    manifest: Manifest
    previous_version: int | None
    put: int
    removed: int


_INSERT = "INSERT INTO voters VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
_UPSERT = "INSERT OR REPLACE INTO voters VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
# A full roll's line split at its tabs goes in as it is: ?1 is the op "+" (unused), ?2..?12 the
# package's eleven FIELDS; the store's own columns are SQL over them, evaluated in C, equal to
# ``row_tuple``'s (integer district, kana_key = kana without spaces, "" as NULL, 県内 1 / 県外 0).
_INSERT_FIELDS = ("INSERT INTO voters VALUES (?2, CAST(?3 AS INTEGER), ?4, ?5, replace(?5, ' ', ''), ?6, ?7, ?8, ?9, "
                  "nullif(?10, ''), nullif(?11, ''), CAST(nullif(?12, '') AS INTEGER))")


def install_package(store: Store, data: bytes, public_key: bytes, election_id: str,
                    limits: Limits = Limits()) -> InstallResult:
    """Verify ``data`` and install it into ``store`` atomically (see the module rules)."""
    manifest, body = open_package(data, public_key, limits)  # before anything touches the store
    return install_verified(store, manifest, body, election_id, limits)


def install_verified(store: Store, manifest: Manifest, body: memoryview, election_id: str,
                     limits: Limits = Limits()) -> InstallResult:
    """Install what ``open_package`` returned (callers that verify before even opening the store)."""
    if manifest.election_id != election_id:
        raise RollRejected(f"別の選挙の名簿です（名簿: {manifest.election_id}、この端末: {election_id}）。入れ替えていません。",
                           code="roll_other_election", roll_election=manifest.election_id, election=election_id)
    counts = {"put": 0, "removed": 0}
    with store.atomic() as conn:
        # Re-read what is installed inside the write transaction: two installs cannot interleave.
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('roll_version','election_id')"))
        if meta.get("election_id", election_id) != election_id:
            raise RollRejected(f"この端末の記録は別の選挙（{meta['election_id']}）のものです。入れ替えていません。",
                               code="roll_other_election")
        installed = int(meta["roll_version"]) if "roll_version" in meta else None
        if installed is not None and manifest.version <= installed:
            raise RollRejected(f"古い名簿です（名簿の版 {manifest.version}、導入済み {installed}）。入れ替えていません。",
                               code="roll_rollback", version=manifest.version, installed=installed)
        if manifest.kind == "delta" and manifest.base_version != installed:
            raise RollRejected(f"差分名簿の基になる版（{manifest.base_version}）が導入済みの版（{installed or 'なし'}）と"
                               "違います。全件の名簿を導入してください。", code="roll_base_mismatch",
                               base=manifest.base_version, installed=installed)
        if manifest.kind == "full":
            _install_full(conn, manifest, body, limits, counts)
        else:
            _install_delta(conn, manifest, body, limits, counts)
        for k, v in (("roll_version", str(manifest.version)), ("roll_digest", manifest.body_sha256),
                     ("election_id", election_id), ("roll_manifest", manifest.encode().decode("utf-8"))):
            store.set_meta(conn, k, v)
    return InstallResult(manifest, installed, counts["put"], counts["removed"])


def _install_full(conn: sqlite3.Connection, manifest: Manifest, body: memoryview, limits: Limits,
                  counts: dict[str, int]) -> None:
    # Bulk load: drop the search index, insert in voter-id order (the primary key's order, so the
    # b-tree only appends), then rebuild the index. A bigger page cache and an in-memory sorter for
    # this transaction only; synchronous stays FULL so the final COMMIT is durable.
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("PRAGMA temp_store=MEMORY")
    try:
        conn.execute("DROP INDEX IF EXISTS voters_kana")
        conn.execute("DELETE FROM voters")

        n = 0
        prev = ""
        seen: tuple[set[str], set[str]] = (set(), set())  # birth dates and 転出 dates already checked
        for text in iter_text(manifest, body, limits):
            checked = _chunk_fields(text, prev, seen)
            if checked is not None:
                k, prev, fields = checked
                conn.executemany(_INSERT_FIELDS, fields)
                n += k
            else:  # something in this chunk is wrong: find it row by row, and say which row
                rows = _chunk_rows(text.split("\n"), n, prev)
                conn.executemany(_INSERT, rows)
                n += len(rows)
                prev = rows[-1][0]
        counts["put"] = n
        if counts["put"] != manifest.row_count:
            raise body_invalid(f"行数がマニフェストと違います（本体 {counts['put']}、マニフェスト {manifest.row_count}）")
        # (kana_key, birth_date): a prefix search ordered by kana then birth date reads only the
        # rows it returns, even for a 2-kana prefix matching 100,000 voters.
        conn.execute("CREATE INDEX voters_kana ON voters(kana_key, birth_date)")
    finally:
        conn.execute("PRAGMA cache_size=-2000")
        conn.execute("PRAGMA temp_store=DEFAULT")


# Columns of a chunk whose shape FULL_CHUNK has accepted (so each line is "+", then 11 fields):
# (over "\n" + text: a literal "\n+\t" in front lets the regex engine skip to each line quickly)
_IDS = re.compile(r"\n\+\t([0-9]+)\t")
_BIRTHS = re.compile(r"\n\+\t[0-9]+\t[0-9]+\t[^\t]*\t[^\t]*\t([^\t]*)\t")
_MOVED_ON = re.compile(r"\tmoved\t([0-9]{4}-[0-9]{2}-[0-9]{2})\t[01]$", re.M)  # the line's last 3 fields


def _chunk_fields(text: str, prev: str,
                  seen: tuple[set[str], set[str]]) -> tuple[int, str, Iterator[list[str]]] | None:
    """(rows, last voter id, the lines split at their tabs, lazily) when every check ``_chunk_rows``
    makes passes, else None.

    The same checks, made per chunk instead of per voter (the install's hot path, profiled in
    bench/roll.py): the shape of every row in one regex match, the calendar on each distinct date
    once (a million voters have some 40,000 birth dates), the strictly increasing voter ids with
    one C-level comparison over the column. The columns are plain strings (not tracked by the
    garbage collector) and each split line is made only when executemany takes it, then freed: a
    million lists held at once would cost more in collector passes than the split itself."""
    if FULL_CHUNK.fullmatch(text) is None:
        return None
    lines = "\n" + text
    ids = _IDS.findall(lines)
    if ids[0] <= prev or not all(map(lt, ids, islice(ids, 1, None))):
        return None
    births, moved = seen
    try:
        for b in set(_BIRTHS.findall(lines)) - births:
            check_birth(b)
            births.add(b)
        for m in set(_MOVED_ON.findall(text)) - moved:
            date.fromisoformat(m)
            moved.add(m)
    except ValueError:
        return None
    return len(ids), ids[-1], map(str.split, text.split("\n"), repeat("\t"))


def _chunk_rows(lines: list[str], n: int, prev: str) -> list[tuple[Any, ...]]:
    """Row by row: the reference checks, raising ``roll_body_invalid`` that names the row."""
    rows = []
    for line in lines:
        if line[:2] != "+\t":
            raise body_invalid(f"{n + 1} 件目: 全件の名簿に「+」以外の行があります")
        try:
            t = row_tuple(line[2:])
        except (BadRow, ValueError) as e:
            raise body_invalid(f"{n + 1} 件目の行: {e}") from None
        if t[0] <= prev:  # strictly increasing: canonical order, and no duplicates
            raise body_invalid(f"{n + 1} 件目: 選挙人番号の順序が正しくありません")
        prev = t[0]
        n += 1
        rows.append(t)
    return rows


def _install_delta(conn: sqlite3.Connection, manifest: Manifest, body: memoryview, limits: Limits,
                   counts: dict[str, int]) -> None:
    n = 0
    prev = ""
    for lines in iter_lines(manifest, body, limits):
        for line in lines:
            op, payload = line[:2], line[2:]
            vid = payload.split("\t", 1)[0]
            if vid <= prev:
                raise body_invalid(f"{n + 1} 件目: 選挙人番号の順序が正しくありません")
            prev = vid
            n += 1
            if op == "+\t":
                try:
                    t = row_tuple(payload)
                except (BadRow, ValueError) as e:
                    raise body_invalid(f"{n} 件目の行: {e}") from None
                conn.execute(_UPSERT, t)
                counts["put"] += 1
            elif op == "-\t" and VOTER_ID.match(payload):
                if conn.execute("DELETE FROM voters WHERE voter_id=?", (vid,)).rowcount != 1:
                    raise body_invalid(f"{n} 件目: 削除する選挙人 {vid} が導入済みの名簿にありません")
                counts["removed"] += 1
            else:
                raise body_invalid(f"{n} 件目: 不明な操作")
    if n != manifest.row_count:
        raise body_invalid(f"行数がマニフェストと違います（本体 {n}、マニフェスト {manifest.row_count}）")


def installed_version(store: Store) -> int | None:
    v = store.get_meta("roll_version")
    return int(v) if v is not None else None


__all__ = ["InstallResult", "install_package", "install_verified", "installed_version"]
