"""An HQ directory holding the simulated day of reports_day.py: ``hq init`` config, the terminals
in terminals.json, every event committed to hq.db, and the master roll in roll.db (names for
the paper backup). Real SQLite files; no server."""

from __future__ import annotations

import json
from pathlib import Path

from ground.clock import FixedClock
from hq.terminals import hq_init
from appliance.dirs import HqDir
from hq.roll import open_roll_db
from hq.store import HqStore
from tests.builders import EARLY_NOON, election_toml
from tests.unit.sync_protocol.reports_day import Day, build, roll

KANA = ["アオキ", "イシイ", "ウエダ", "エンドウ", "オオタ", "カトウ", "キムラ", "クボ", "ケンモチ", "コバヤシ"]


def hq_with_day(tmp: Path) -> tuple[HqDir, Day]:
    cfg = tmp / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq = HqDir(tmp / "hq")
    hq_init(hq.root, cfg, FixedClock(EARLY_NOON))
    d = build()
    terms = [{"terminal": t, "station": ts.station, "device_pub": "00" * 32, "revoked": False}
             for t, ts in d.ledger.terminals.items() if t != "HQ"]
    (hq.root / "terminals.json").write_text(json.dumps(terms), "utf-8")
    store = HqStore(hq)
    try:
        store.commit(d.events)
    finally:
        store.close()
    rs = open_roll_db(hq)
    try:
        with rs.atomic() as c:
            for vid, f in roll().items():
                i = int(vid)
                c.execute("INSERT INTO roll(voter_id, district, name, kana, birth_date, sex, address, status, display_reason, "
                          "moved_on, moved_within_pref, page, line, canon) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          (vid, f.district, f"選挙人{i:02d} 太郎", f"{KANA[i % 10]} タロウ{i:02d}", f.birth_date.isoformat(),
                           f.sex, f"横浜市中区本町{i}-1", f.status, None, None, None, None, None, f"canon-{vid}"))
    finally:
        rs.close()
    return hq, d
