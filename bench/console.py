"""HQ console refresh: one new event on top of a million stored, incremental vs full rebuild.

A prefecture-wide 同日選挙 at one HQ: 60 stations (early, common, election day) with two
terminals each, four contests, check-ins over the early-voting days and election day, with
voids, double-vote attempts withheld, and the hourly 交付数 entries. The events are written to a
real hq.db, an ``HqNode`` loads them (as after a restart), and then, in the same run:
- full rebuild: ``records.console_data`` over the node's ledger, what the console did every
  second before it was incremental (the floor this is measured against);
- incremental: ``LocalHq.snapshot()`` (read the rows after its cursor on its reader thread, move
  the aggregates, build the screen), after one new check-in committed by the node; also the
  console's first catch-up over everything stored, done in slices.
Goal: the refresh after one new event is at least 100 × cheaper than the full rebuild, and both
give the same screen (checked).

Run: ``.venv/bin/python -m bench console``. MEIBO_BENCH_CONSOLE_EVENTS changes the size
(default 1,000,000), MEIBO_BENCH_CONSOLE_ROUNDS the number of one-event refreshes (20).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ground.clock import JST, FixedClock
from hq.terminals import hq_init
from appliance.dirs import HqDir
from ground.events import Event, EventKind
from ground.hlc import pack
from ground.model import TerminalId
from hq.store import HqStore
from hq.records import HqFacts, RecordsLedger, console_data
from tests.builders import election_toml
from hq.server import HqNode
from ui_kivy.console.backend import LocalHq

GOAL = 100.0
CONTESTS = ["shu", "hirei", "shinsa", "governor"]
DAY = datetime(2027, 4, 25, tzinfo=JST)


def _stations() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(1, 11):
        out.append({"id": f"E{i:02d}", "name": f"期日前投票所{i}", "kind": "early",
                    "open": [{"from": "2027-04-12", "to": "2027-04-24", "hours": "08:30-20:00"}]})
    for i in range(1, 11):
        out.append({"id": f"C{i:02d}", "name": f"共通投票所{i}", "kind": "common", "open": [{"hours": "07:00-20:00"}]})
    for i in range(1, 41):
        out.append({"id": f"D{i:02d}", "name": f"投票所{i}", "kind": "day", "district": i,
                    "open": [{"hours": "07:00-20:00"}]})
    return out


def _contests() -> list[dict[str, Any]]:
    names = {"shu": "衆議院小選挙区", "hirei": "衆議院比例代表", "shinsa": "最高裁判所裁判官国民審査",
             "governor": "知事選挙"}
    return [{"id": c, "name": names[c], "level": "prefectural" if c == "governor" else "national"} for c in CONTESTS]


def _hq(root: Path) -> tuple[HqDir, list[tuple[str, str]]]:
    cfg = root / "election.toml"
    cfg.write_text(election_toml(contests=_contests(), stations=_stations()), "utf-8")
    hq = HqDir(root / "hq")
    hq_init(hq.root, cfg, FixedClock(DAY.replace(hour=6)))
    terms = [(f"T-{s['id']}-{k}", str(s["id"])) for s in _stations() for k in (1, 2)]
    reg = [{"terminal": t, "station": s, "device_pub": "00" * 32, "tls_serials": []} for t, s in terms]
    (hq.root / "terminals.json").write_text(json.dumps(reg), "utf-8")
    return hq, terms


def _events(n: int, terms: list[tuple[str, str]], rnd: random.Random) -> list[Event]:
    """n journal events in an order HQ could have received them (per terminal: seq order)."""
    seqs = {t: 0 for t, _ in terms}
    out: list[Event] = []
    voter = 100000
    start = DAY - timedelta(days=13)
    span_ms = int(timedelta(days=13, hours=20).total_seconds() * 1000)
    step = span_ms // n
    last_count: dict[str, int] = {}
    early_terms = [x for x in terms if x[1].startswith("E")]
    day_terms = [x for x in terms if not x[1].startswith("E")]
    for i in range(n):
        at_ms = int(start.timestamp() * 1000) + i * step
        at = datetime.fromtimestamp(at_ms / 1000, JST)
        pool = early_terms if at.date() < DAY.date() else day_terms  # early days: early stations only
        t, station = pool[rnd.randrange(len(pool))]
        seqs[t] += 1
        seq = seqs[t]
        hour_key = f"{t}{at:%Y%m%d%H}"
        roll = rnd.random()
        if roll < 0.01 and seq > 1:
            ev = Event(EventKind.VOID, seq, pack(at_ms, 0), TerminalId(t), {"ref": seq - 1, "reason": "人違い"})
        elif roll < 0.015:  # a second ballot attempt for a voter already seen: HQ says 投票済, withheld
            ev = Event(EventKind.CHECKIN, seq, pack(at_ms, 0), TerminalId(t),
                       {"station": station, "clerk": "c1", "voter": str(100000 + rnd.randrange(max(1, voter - 100000))),
                        "contests": CONTESTS})
            out.append(ev)
            seqs[t] += 1
            ev = Event(EventKind.WITHHELD, seq + 1, pack(at_ms, 1), TerminalId(t), {"ref": seq, "contests": CONTESTS})
        elif at.minute == 0 and last_count.get(t) != hash(hour_key):  # the supervisor's hourly 交付数
            last_count[t] = hash(hour_key)
            ev = Event(EventKind.COUNT, seq, pack(at_ms, 0), TerminalId(t),
                       {"contest": CONTESTS[rnd.randrange(4)], "hour": at.hour, "issued": rnd.randrange(200)})
        else:
            voter += 1
            ev = Event(EventKind.CHECKIN, seq, pack(at_ms, 0), TerminalId(t),
                       {"station": station, "clerk": "c1", "voter": str(voter), "contests": CONTESTS})
        out.append(ev)
        if len(out) >= n:
            break
    return out[:n]


def _store(hq: HqDir, events: list[Event]) -> None:
    st = HqStore(hq)
    for i in range(0, len(events), 50_000):
        st.commit(events[i:i + 50_000], now=0.0)
    st.close()


async def _measure(hq: HqDir, rounds: int, terms: list[tuple[str, str]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    node = HqNode(hq, ledger_cls=RecordsLedger)
    load_s = time.perf_counter() - t0
    now = DAY.replace(hour=19, minute=30)
    clock = FixedClock(now)
    cfg = node.store.config
    try:
        facts = HqFacts(node.store.contacts(), node.store.alert_states(), {}, frozenset())
        t0 = time.perf_counter()
        full = console_data(node.ledger, cfg, facts, now)
        full_s = [time.perf_counter() - t0]
        local = LocalHq(node, clock)
        t0 = time.perf_counter()
        first = await local.snapshot()
        first_screen_s = time.perf_counter() - t0
        refreshes = 1
        while not local.caught_up:
            first = await local.snapshot()
            refreshes += 1
        catch_up_s = time.perf_counter() - t0
        assert first == full, "incremental catch-up differs from the full rebuild"
        inc_s = []
        t, station = terms[0][0], "D01"
        for i in range(rounds):
            ts = node.ledger.terminals[t]
            ev = Event(EventKind.CHECKIN, ts.acked_seq + 1, pack(int(now.timestamp() * 1000) + i, 0), TerminalId(t),
                       {"station": station, "clerk": "c1", "voter": f"9{i:08d}", "contests": CONTESTS})
            node.ledger.apply(ev)
            await node.io(node.store.commit, [ev])
            t0 = time.perf_counter()
            data = await local.snapshot()
            inc_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        full_after = console_data(node.ledger, cfg, facts, now)
        full_s.append(time.perf_counter() - t0)
        assert data == full_after, "incremental refresh differs from the full rebuild"
        await local.close()
    finally:
        await node.stop()
    full_med, inc_med = statistics.median(full_s), statistics.median(inc_s)
    return {"events": node.ledger.order, "load_s": round(load_s, 2), "full_rebuild_s": round(full_med, 4),
            "first_screen_s": round(first_screen_s, 2), "first_catch_up_s": round(catch_up_s, 2),
            "catch_up_refreshes": refreshes, "refresh_1_new_ms_median": round(inc_med * 1000, 3),
            "refresh_1_new_ms_max": round(max(inc_s) * 1000, 3), "ratio": round(full_med / inc_med, 1),
            "goal": GOAL, "ok": full_med / inc_med >= GOAL}


def run() -> dict[str, Any]:
    n = int(os.environ.get("MEIBO_BENCH_CONSOLE_EVENTS", "1000000"))
    rounds = int(os.environ.get("MEIBO_BENCH_CONSOLE_ROUNDS", "20"))
    with tempfile.TemporaryDirectory(prefix="meibo-bench-console-") as d:
        root = Path(d)
        hq, terms = _hq(root)
        t0 = time.perf_counter()
        _store(hq, _events(n, terms, random.Random(2027)))
        print(f"   {n:,} events written to hq.db in {time.perf_counter() - t0:.1f} s", flush=True)
        res = asyncio.run(_measure(hq, rounds, terms))
    print(f"   HQ load (replay)             {res['load_s']:8.2f} s   ({res['events']:,} events)")
    print(f"   full rebuild (before)        {res['full_rebuild_s'] * 1000:8.1f} ms  (console_data over the ledger)")
    print(f"   console opened: first screen {res['first_screen_s']:8.2f} s, all caught up after "
          f"{res['first_catch_up_s']:.2f} s in {res['catch_up_refreshes']} refreshes (slices; the window stays live)")
    print(f"   refresh, 1 new event         {res['refresh_1_new_ms_median']:8.3f} ms  median of {rounds}, "
          f"max {res['refresh_1_new_ms_max']:.3f} ms")
    print(f"   ratio full / incremental     {res['ratio']:8.1f} ×   goal ≥ {GOAL:.0f} × → {'OK' if res['ok'] else 'MISSED'}")
    return res


if __name__ == "__main__":
    run()
