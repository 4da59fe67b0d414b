"""Builders for roll tests: HQ and terminal directories made by hand (no dependency on ``hq init``),
small CSV exports, and signed packages.

Keys are derived from a fixed seed so that tests are deterministic; directories follow
appliance/dirs.py exactly (election.toml, keys/roll_signing.key 0600 + .pub, terminal.toml,
keys/hq_roll.pub).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from ground.clock import JST, FixedClock
from appliance.dirs import HqDir, TerminalDir, TerminalIdentity, write_atomic, write_private
from ground.model import StationId, TerminalId
from appliance.rollpkg import public_key_of

NOW = FixedClock(datetime(2027, 4, 1, 9, 0, tzinfo=JST))

HEADER_JA = ["選挙人番号", "投票区", "氏名", "氏名カナ", "生年月日", "性別", "住所", "状態", "表示事由", "転出日", "転出先"]
HEADER_EN = ["voter_id", "district", "name", "name_kana", "birth_date", "sex", "address", "status",
             "display_reason", "moved_on", "moved_to"]


def election_toml(election_id: str = "yokohama-2027", barcode_prefix: str = "") -> str:
    bc = f'\n[barcode]\nprefix = "{barcode_prefix}"\n' if barcode_prefix else ""
    return f"""[election]
id = "{election_id}"
name = "横浜市長選挙"
election_day = "2027-04-25"
early_voting_start = "2027-04-12"

[hq]
address = "10.20.0.1:8443"

[[station]]
id = "E01"
name = "中区役所 期日前投票所"
kind = "early"
{bc}"""


def seed_for(label: str) -> bytes:
    return hashlib.sha256(f"meibo-test-roll-key/{label}".encode()).digest()


@dataclass(frozen=True)
class Pair:
    hq: HqDir
    terminal: TerminalDir
    seed: bytes


def make_hq(root: Path, election_id: str = "yokohama-2027", *, key_label: str = "hq",
            barcode_prefix: str = "") -> tuple[HqDir, bytes]:
    hq = HqDir(root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(hq.config_path, election_toml(election_id, barcode_prefix).encode())
    seed = seed_for(key_label)
    write_private(hq.roll_key, seed)
    write_atomic(hq.roll_pub, public_key_of(seed))
    return hq, seed


def make_terminal(root: Path, hq: HqDir, *, election_id: str | None = None) -> TerminalDir:
    t = TerminalDir(root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(t.config_path, hq.config_path.read_bytes())
    eid = election_id or hq.config().election_id
    t.write_identity(TerminalIdentity(TerminalId("T01"), StationId("E01"), eid, "10.20.0.1:8443"))
    write_atomic(t.hq_roll_pub, hq.roll_pub.read_bytes())
    return t


def make_pair(tmp: Path, election_id: str = "yokohama-2027", barcode_prefix: str = "") -> Pair:
    hq, seed = make_hq(tmp / "hq", election_id, barcode_prefix=barcode_prefix)
    return Pair(hq, make_terminal(tmp / "t", hq), seed)


def csv_text(rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER_JA) -> str:
    lines = [",".join(header)]
    for r in rows:
        cells = [str(c) for c in r] + [""] * (len(header) - len(r))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


# Five voters covering every status; the default roll of most roll tests.
BASE_ROWS: list[list[str]] = [
    ["0000000001", "1", "佐藤 太郎", "サトウ タロウ", "1985-04-01", "男", "横浜市中区本町1-1"],
    ["0000000002", "1", "髙橋 花子", "たかはし はなこ", "昭和60年4月1日", "女", "横浜市中区本町1-2", "登録"],
    ["0000000003", "2", "山﨑 一郎", "ﾔﾏｻﾞｷ ｲﾁﾛｳ", "S50.1.2", "1", "横浜市西区緑町2-3", "抹消"],
    ["0000000004", "2", "鈴木 次郎", "スズキ ジロウ", "H1.1.8", "M", "横浜市西区緑町2-4", "表示", "転出", "2027-03-01", "県内"],
    ["0000000005", "3", "田中 花", "タナカ ハナ", "1950-12-31", "F", "横浜市南区宮前3-5", "表示", "失権"],
]


def write_csv(path: Path, rows: Sequence[Sequence[Any]] = BASE_ROWS, *, encoding: str = "utf-8",
              header: Sequence[str] = HEADER_JA) -> Path:
    path.write_bytes(csv_text(rows, header).encode(encoding))
    return path


def store_snapshot(path: Path) -> dict[str, Any]:
    """Everything a roll install may touch, to compare before/after a refused install."""
    import sqlite3
    if not path.exists():
        return {}
    c = sqlite3.connect(path)
    try:
        return {"voters": c.execute("SELECT * FROM voters ORDER BY voter_id").fetchall(),
                "meta": c.execute("SELECT * FROM meta ORDER BY key").fetchall(),
                "indexes": c.execute("SELECT name, sql FROM sqlite_master WHERE type='index' ORDER BY name").fetchall()}
    finally:
        c.close()


__all__ = ["NOW", "Pair", "make_hq", "make_terminal", "make_pair", "csv_text", "write_csv", "BASE_ROWS",
           "store_snapshot", "seed_for", "HEADER_JA", "HEADER_EN"]
