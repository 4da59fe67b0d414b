"""Shared test-data builders: election configs, voters, enrolled terminal directories.

Importable by every test (``from tests.builders import ...``). Everything is deterministic and
built from the real parsers and the real store, so a test exercises the code users run:

- ``election_toml(...)`` → the text of an election.toml; ``election_config(...)`` parses it.
  The default is a 同日選挙 on Sunday 2027-04-25 with four contests (national 衆院, national
  国民審査 opening later on 04-18, prefectural 知事, municipal 市長) and five stations
  (E01 early for the whole period 08:30-20:00, E02 early 04-20..04-24 10:00-19:00, C01 common,
  D01/D02 day stations of 投票区 1/2).
- ``voter(...)`` → a ``Voter`` with sensible defaults (30 years old, 投票区 1, 登録).
- ``voter_row(v)`` → the dict stored in the ``voters`` table; ``insert_voters(store, voters)``.
- ``terminal_dir(path, voters=..., terminal=..., station=...)`` → an enrolled ``TerminalDir`` with
  election.toml, terminal.toml, device keys, and a store holding the voters (no CLI involved).
  The store is encrypted at rest (SQLCipher, data key sealed under ``TEST_PIN`` with a cheap
  Argon2id cost) and the station is left *open* (key in the runtime dir) unless ``opened=False``;
  ``pin=None`` gives a plain, unprotected store. ``raw_connect(path)`` opens a store file behind
  the code's back (tamper tests): the stdlib sqlite3 for a plain store, SQLCipher with the
  unlocked key for an encrypted one. Runtime keys made here are removed when the process exits.
- ``jst(...)`` → an aware Japan-time datetime; ``EARLY_DAY``/``ELECTION_DAY`` moments.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ground.clock import JST
from ground.config import parse_config
from appliance.dirs import TerminalDir, TerminalIdentity, write_atomic, write_private
from ground.model import (DisplayReason, ElectionConfig, Sex, StationId, Status, TerminalId,
                             Voter, VoterId)
from appliance import atrest
from appliance.store import Store

TEST_PIN = "2468"
# Argon2id at its minimum cost: the tests exercise the sealing, not its price.
TEST_ATREST = atrest.AtRestSettings(opslimit=1, memlimit=8192)
_OPENED: list[Path] = []  # runtime (tmpfs) key directories made here


def _close_opened() -> None:
    # by path: the terminal directory (and its sealed key) may be gone already (a temp dir)
    import shutil

    for d in _OPENED:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_close_opened)


def open_station(tdir: TerminalDir, pin: str = TEST_PIN) -> None:
    """``meibo terminal open`` without the CLI (and remembered for clean-up at exit)."""
    atrest.open_station(tdir, pin)
    _OPENED.append(atrest.runtime_dir(tdir))


def raw_connect(path: Path) -> Any:
    """A DB-API connection to a terminal store file, bypassing ``Store`` (for tamper tests)."""
    import sqlite3

    tdir = TerminalDir(Path(path).parent)
    if not atrest.is_protected(tdir):
        return sqlite3.connect(path)
    from sqlcipher3 import dbapi2  # type: ignore[import-untyped]

    key = atrest.store_key(tdir)
    assert key is not None
    c = dbapi2.connect(str(path))
    c.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return c


ELECTION_DAY = date(2027, 4, 25)


def jst(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=JST)


EARLY_NOON = jst(2027, 4, 20, 12, 0)  # every contest open for early voting, E01 and E02 open
ELECTION_NOON = jst(2027, 4, 25, 12, 0)

DEFAULT_CONTESTS: tuple[dict[str, Any], ...] = (
    {"id": "shu", "name": "衆議院小選挙区選出議員選挙", "level": "national"},
    {"id": "shinsa", "name": "最高裁判所裁判官国民審査", "level": "national", "early_voting_start": "2027-04-18"},
    {"id": "governor", "name": "神奈川県知事選挙", "level": "prefectural"},
    {"id": "mayor", "name": "横浜市長選挙", "level": "municipal"},
)

DEFAULT_STATIONS: tuple[dict[str, Any], ...] = (
    {"id": "E01", "name": "中区役所 期日前投票所", "kind": "early",
     "open": [{"from": "2027-04-12", "to": "2027-04-24", "hours": "08:30-20:00"}]},
    {"id": "E02", "name": "関内駅前 期日前投票所", "kind": "early",
     "open": [{"from": "2027-04-20", "to": "2027-04-24", "hours": "10:00-19:00"}]},
    {"id": "C01", "name": "横浜駅 共通投票所", "kind": "common",
     "open": [{"hours": "07:00-20:00"}]},
    {"id": "D01", "name": "本町小学校", "kind": "day", "district": 1, "open": [{"hours": "07:00-20:00"}]},
    {"id": "D02", "name": "港中学校", "kind": "day", "district": 2, "open": [{"hours": "07:00-20:00"}]},
)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def election_toml(*, election_id: str = "yokohama-2027", name: str = "同日選挙（テスト）",
                  election_day: str = "2027-04-25", early_voting_start: str = "2027-04-12",
                  early_voting_end: str = "2027-04-24", hq_address: str = "127.0.0.1:8443",
                  contests: Sequence[dict[str, Any]] = DEFAULT_CONTESTS,
                  stations: Sequence[dict[str, Any]] = DEFAULT_STATIONS) -> str:
    """The text of an election.toml. Contests/stations are dicts of TOML keys (``open`` a list)."""
    out = ["[election]", f"id = {_toml_value(election_id)}", f"name = {_toml_value(name)}",
           f"election_day = {_toml_value(election_day)}",
           f"early_voting_start = {_toml_value(early_voting_start)}",
           f"early_voting_end = {_toml_value(early_voting_end)}", "",
           "[hq]", f"address = {_toml_value(hq_address)}", ""]
    for c in contests:
        out.append("[[contest]]")
        out += [f"{k} = {_toml_value(v)}" for k, v in c.items()]
        out.append("")
    for s in stations:
        out.append("[[station]]")
        out += [f"{k} = {_toml_value(v)}" for k, v in s.items() if k != "open"]
        for w in s.get("open", []):
            out.append("[[station.open]]")
            out += [f"{k} = {_toml_value(v)}" for k, v in w.items()]
        out.append("")
    return "\n".join(out)


def election_config(**kw: Any) -> ElectionConfig:
    """Parse ``election_toml(**kw)`` with the real parser."""
    return parse_config(election_toml(**kw).encode("utf-8"))


def voter(voter_id: str = "100001", *, district: int = 1, birth_date: date = date(1997, 6, 1),
          status: Status = Status.REGISTERED, display_reason: DisplayReason | None = None,
          moved_on: date | None = None, moved_within_prefecture: bool | None = None,
          name: str = "山田 太郎", name_kana: str = "ヤマダ タロウ", sex: Sex = Sex.MALE,
          address: str = "横浜市中区本町1-1") -> Voter:
    return Voter(VoterId(voter_id), district, name, name_kana, birth_date, sex, address, status,
                 display_reason, moved_on, moved_within_prefecture)


def moved_voter(voter_id: str = "100002", *, moved_on: date = date(2027, 3, 1),
                within_prefecture: bool = True, **kw: Any) -> Voter:
    """A 表示(転出) voter."""
    return voter(voter_id, status=Status.DISPLAYED, display_reason=DisplayReason.MOVED,
                 moved_on=moved_on, moved_within_prefecture=within_prefecture, **kw)


def voter_row(v: Voter) -> dict[str, Any]:
    """The ``voters`` table row of a voter (the columns of appliance/store.py)."""
    return {
        "voter_id": v.voter_id, "district": v.district, "name": v.name, "kana": v.name_kana,
        "kana_key": v.name_kana.replace(" ", "").replace("\u3000", ""),
        "birth_date": v.birth_date.isoformat(), "sex": v.sex.value, "address": v.address,
        "status": v.status.value,
        "display_reason": v.display_reason.value if v.display_reason else None,
        "moved_on": v.moved_on.isoformat() if v.moved_on else None,
        "moved_within_pref": None if v.moved_within_prefecture is None else int(v.moved_within_prefecture),
    }


def insert_voters(store: Store, voters: Iterable[Voter]) -> None:
    rows = [voter_row(v) for v in voters]
    cols = list(voter_row(voter()).keys())
    with store.atomic() as conn:
        conn.executemany(f"INSERT INTO voters({','.join(cols)}) VALUES({','.join('?' * len(cols))})",
                         [tuple(r[c] for c in cols) for r in rows])


def terminal_dir(root: Path, voters: Iterable[Voter] = (), *, terminal: str = "T01",
                 station: str = "E01", toml_text: str | None = None, pin: str | None = TEST_PIN,
                 opened: bool = True) -> TerminalDir:
    """An enrolled terminal directory (as ``meibo hq enroll-local`` makes) holding ``voters``."""
    from nacl.signing import SigningKey  # keys are real but deterministic per terminal id
    import hashlib

    text = toml_text if toml_text is not None else election_toml()
    cfg = parse_config(text.encode("utf-8"))
    cfg.station(station)  # KeyError for a station not in the config
    tdir = TerminalDir(root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(tdir.config_path, text.encode("utf-8"))
    tdir.write_identity(TerminalIdentity(TerminalId(terminal), StationId(station), cfg.election_id,
                                         cfg.hq_address))
    seed = hashlib.sha256(f"test-device-{terminal}".encode()).digest()
    write_private(tdir.device_key, seed)
    write_atomic(tdir.device_pub, bytes(SigningKey(seed).verify_key))
    write_atomic(tdir.hq_roll_pub, bytes(SigningKey(hashlib.sha256(b"test-hq").digest()).verify_key))
    key = None
    if pin is not None:
        key = atrest.seal_new(tdir, pin, settings=TEST_ATREST)
        if opened:
            _OPENED.append(atrest.install_runtime_key(tdir, key).parent)
    store = Store(tdir.store_path, key=key)
    try:
        from appliance import journal
        journal.init(store, cfg.election_id, TerminalId(terminal))
        insert_voters(store, voters)
    finally:
        store.close()
    return tdir
