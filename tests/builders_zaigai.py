"""Builders for 在外選挙人名簿 tests: the CSV HQ imports, an HQ directory whose roll key matches the
terminals made by ``tests.builders.terminal_dir``, publishing, and a snapshot of everything a 在外
install may touch on a terminal."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

from appliance.dirs import HqDir, TerminalDir, write_atomic, write_private
from hq.roll import import_zaigai, publish_zaigai
from appliance.rollpkg import public_key_of
from appliance.store import Store
from tests.builders import election_toml
from tests.builders_roll import NOW

HEAD = "在外選挙人番号,在外選挙人証番号,氏名,氏名カナ,生年月日,性別,最終住所,居住国,状態\n"
GOOD = HEAD + ("900001,A1234567,鈴木 一郎,スズキ イチロウ,1975-05-05,男,横浜市中区本町1-1,アメリカ合衆国,登録\n"
               "900002,B7654321,伊藤 花子,イトウ ハナコ,1990-01-01,女,横浜市中区山下町2,フランス,抹消\n")
MORE = GOOD + "900003,C5550001,ブラウン 花,ブラウン ハナ,1988-08-08,女,横浜市南区宮前3-5,英国,登録\n"
HQ_SEED = hashlib.sha256(b"test-hq").digest()  # the key tests.builders.terminal_dir trusts


def write_zaigai_csv(path: Path, text: str = GOOD) -> Path:
    path.write_bytes(("\ufeff" + text).encode("utf-8"))
    return path


def make_hq(root: Path, *, election_id: str = "yokohama-2027", seed: bytes = HQ_SEED) -> HqDir:
    """An HQ directory for the election of ``tests.builders.election_toml`` (E01/E02 early, C01
    common, D01/D02 day), signing with the key ``terminal_dir`` trusts unless ``seed`` says else."""
    hq = HqDir(root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(hq.config_path, election_toml(election_id=election_id).encode("utf-8"))
    write_private(hq.roll_key, seed)
    write_atomic(hq.roll_pub, public_key_of(seed))
    return hq


def publish_csv(hq: HqDir, tmp: Path, text: str = GOOD, designated: Sequence[str] = ()) -> bytes:
    """Import ``text`` at HQ and publish the next 在外 version; returns the package bytes."""
    import_zaigai(hq, write_zaigai_csv(tmp / "zaigai-in.csv", text), designated, NOW)
    return publish_zaigai(hq, None, NOW).path.read_bytes()


def terminal_snapshot(tdir: TerminalDir) -> dict[str, Any]:
    """The 在外 roll, every meta key and the main roll of a terminal (compare before/after)."""
    store = Store(tdir.store_path)
    try:
        c = store.conn
        has = c.execute("SELECT 1 FROM sqlite_master WHERE name='zaigai_voters'").fetchone() is not None
        return {"zaigai": c.execute("SELECT * FROM zaigai_voters ORDER BY zaigai_id").fetchall() if has else None,
                "meta": c.execute("SELECT * FROM meta ORDER BY key").fetchall(),
                "voters": c.execute("SELECT * FROM voters ORDER BY voter_id").fetchall()}
    finally:
        store.close()


def hq_snapshot(hq: HqDir) -> dict[str, Any]:
    """HQ's 在外 tables and meta (compare before/after a refused import)."""
    from hq.roll import open_roll_db

    store = open_roll_db(hq)
    try:
        c = store.conn
        return {t: c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("zaigai", "zaigai_designated", "zaigai_versions", "meta")}
    finally:
        store.close()


def install_signed(store: Store, csv_text: str, designated: Sequence[str] = (), *,
                   election_id: str | None = None, version: int | None = None, seed: bytes = HQ_SEED) -> int:
    """Put a 在外 roll into a terminal's store the only way a terminal takes one: as HQ's signed
    package (signed here with the key ``terminal_dir`` trusts), verified and installed. For tests
    that need 在外選挙人 in a store (the replacement of the old per-terminal CSV import). Returns
    the installed version (the next one unless ``version`` says)."""
    from appliance import procedures as P
    from appliance.zaigaipkg import build_zaigai_package, open_zaigai_package, parse_zaigai_csv

    eid = election_id or store.get_meta("election_id") or "yokohama-2027"
    v = version or (P.installed_zaigai_version(store) or 0) + 1
    data, _ = build_zaigai_package(election_id=eid, version=v, voters=parse_zaigai_csv(csv_text.encode("utf-8")),
                                   designated=designated, created="2027-04-01T09:00:00+09:00", seed=seed)
    return P.install_zaigai(store, open_zaigai_package(data, public_key_of(seed)), eid).version
