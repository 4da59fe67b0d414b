"""A restarted HQ rebuilds exactly the ledger live ingest built (rule 1, event sourcing).

Live ingest here is the server's path: signed batches over the wire codec, ``HqSession.receive``
(``check_batch``), ``Ledger.apply_all``, ``HqStore.commit``, HQ's own 不在者投票 through
``hq_ops``, and a clone alarm recorded as the server records it. The restart is
``HqStore.load`` over the real hq.db, which reads and decodes the stored events in chunks
(``decode_batch``) and applies them with ``apply_all``; chunk sizes 1, 7 and the default move
the chunk boundaries everywhere. Verdicts, check-in states, ballots, alerts, alarms, the flag
stream, chain hashes and the other events must all be equal. A stored event that is not
canonical still stops the load with the code event-by-event ``decode`` gives.
"""

from __future__ import annotations

import gc
import json
import random
import shutil
import sqlite3
import weakref
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from ground.clock import FixedClock
from appliance.dirs import HqDir
from ground.errors import JournalCorrupt, UsageError
from ground.events import Event, EventKind, decode, genesis_hash
from ground.model import HQ_TERMINAL, TerminalId
from hq import ops as hq_ops
from sync_protocol.codec import decode as decode_frame
from sync_protocol.codec import encode as encode_frame
from hq.store import REPLAY_CHUNK, HqStore
from hq.ledger import (Alarm, Alert, BallotMap, ChainHashes, CheckinMap, CheckinRec, FlagLog, Ledger,
                                  TermState)
from hq.records import RecordsLedger
from sync_protocol.session import LinkState, TerminalLink
from hq.session import HqSession
from tests.builders import EARLY_NOON, election_toml

ELECTION = "restart-test"
HLC0 = 1_807_000_000_000 << 16
CONTESTS = ["gov", "mayor", "council"]
TERMS = ["T1", "T2", "T3", "T4"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hq.terminals import hq_init

    root = tmp_path_factory.mktemp("hq-template")
    cfg = root / "election.toml"
    cfg.write_text(election_toml(election_id=ELECTION, contests=[
        {"id": c, "name": c, "level": "municipal"} for c in CONTESTS]), "utf-8")
    hq_init(root / "hq", cfg, FixedClock(EARLY_NOON))
    reg = [{"terminal": t, "station": "S" + t, "device_pub": bytes(_key(t).verify_key).hex(), "tls_serials": []}
           for t in TERMS]
    (root / "hq" / "terminals.json").write_text(json.dumps(reg), "utf-8")
    return root / "hq"


@pytest.fixture
def hq(template: Path, tmp_path: Path) -> HqDir:
    shutil.copytree(template, tmp_path / "hq")
    return HqDir(tmp_path / "hq")


def _key(tid: str) -> SigningKey:
    return SigningKey(bytes([TERMS.index(tid) + 1]) * 32)


def _journal(rng: random.Random, tid: str, n: int) -> list[Event]:
    """Check-ins of few voters (many double votes), the markers that follow, and other events."""
    out: list[Event] = []
    seq = 0

    def add(kind: EventKind, data: dict[str, Any]) -> int:
        nonlocal seq
        seq += 1
        out.append(Event(kind, seq, HLC0 + seq, TerminalId(tid), data))
        return seq

    for _ in range(n):
        r = rng.random()
        if r < 0.08:
            add(EventKind.LOOKUP, {"voter": str(rng.randrange(15)), "via": "scan", "clerk": "c"})
            continue
        if r < 0.12:
            add(EventKind.COUNT, {"contest": rng.choice(CONTESTS), "hour": 10, "issued": rng.randrange(50)})
            continue
        cs = rng.sample(CONTESTS, rng.randint(1, 3))
        ref = add(EventKind.CHECKIN, {"station": "S" + tid, "clerk": "c", "voter": str(rng.randrange(15)),
                                      "contests": cs})
        r = rng.random()
        if r < 0.3:
            add(EventKind.PROVISIONAL, {"ref": ref})
        elif r < 0.45:
            add(EventKind.WITHHELD, {"ref": ref, "contests": cs[:1]})
        elif r < 0.55:
            add(EventKind.VOID, {"ref": ref, "reason": "人違い", "clerk": "c"})
    return out


class Live:
    """HQ's live ingest (server.py ``handle``, without the sockets)."""

    def __init__(self, hq: HqDir, ledger_cls: type[Ledger]) -> None:
        self.store = HqStore(hq)
        self.ledger = self.store.load(ledger_cls)
        self.sessions = {t: HqSession(self.ledger, t) for t in TERMS}
        for s in self.sessions.values():
            s.state = s.state.READY
        self.links = {t: self._link(t) for t in TERMS}
        self.prev = {t: genesis_hash(ELECTION, t) for t in TERMS}

    @staticmethod
    def _link(tid: str) -> TerminalLink:
        link = TerminalLink(ELECTION, tid, "S" + tid, _key(tid), max_batch=500, window=1 << 30)
        link.state = LinkState.READY
        return link

    def send(self, tid: str, events: list[Event], link: TerminalLink | None = None,
             prev: bytes | None = None) -> Any:
        f = (link or self.links[tid]).batch(events, self.prev[tid] if prev is None else prev)
        assert f is not None
        if link is None:
            self.prev[tid] = bytes.fromhex(f.header["head"])
            self.links[tid].acked_seq = self.links[tid].sent_upto  # as if ACKed: keep the window open
            self.links[tid].state = LinkState.READY
        res = self.sessions[tid].receive(decode_frame(encode_frame(f)))
        if res.alarm is not None:
            self.store.record_alarm(res.alarm)
        if res.to_commit:
            self.ledger.apply_all(res.to_commit)
        self.store.commit(res.to_commit)
        if res.pending_ack is not None:
            self.sessions[tid].ack_frame(res.pending_ack)
        return res


def _ingest(hq: HqDir, ledger_cls: type[Ledger], seed: int) -> Ledger:
    rng = random.Random(seed)
    live = Live(hq, ledger_cls)
    journals = {t: _journal(rng, t, rng.randint(20, 60)) for t in TERMS}
    pos = {t: 0 for t in TERMS}
    clone_at = rng.randrange(5, 40)  # after how many batches T4 is found cloned
    batches = 0

    def clone() -> None:  # a second device with T4's identity and key, at T4's seq 1
        first = journals["T4"][0]
        forged = Event(first.kind, 1, first.hlc + 1, first.terminal, dict(first.data))
        res = live.send("T4", [forged], link=Live._link("T4"), prev=genesis_hash(ELECTION, "T4"))
        assert res.alarm is not None and live.ledger.terminals["T4"].held

    _, evs = hq_ops.record_absentee(live.store, live.ledger, "17", CONTESTS, FixedClock(EARLY_NOON))
    live.store.commit(evs)
    _, evs = hq_ops.record_absentee_notice(live.ledger, "16", CONTESTS[:1], "requested", FixedClock(EARLY_NOON))
    live.store.commit(evs)
    while any(pos[t] < len(journals[t]) for t in TERMS):
        t = rng.choice([t for t in TERMS if pos[t] < len(journals[t])])
        if live.ledger.terminals[t].held:
            pos[t] = len(journals[t])
            continue
        k = rng.randint(1, 6)
        live.send(t, journals[t][pos[t]:pos[t] + k])
        pos[t] += k
        batches += 1
        r = rng.random()
        if r < 0.15:  # 不在者投票 at HQ, sometimes for a voter who already voted
            try:
                _, evs = hq_ops.record_absentee(live.store, live.ledger, str(rng.randrange(18)),
                                                [rng.choice(CONTESTS)], FixedClock(EARLY_NOON))
                live.store.commit(evs)
            except UsageError as e:  # already voted: refused, nothing recorded
                assert e.code == "already_voted", e
        elif r < 0.2:  # the state of a voter's 不在者 papers: a notice on the flag stream
            _, evs = hq_ops.record_absentee_notice(live.ledger, str(rng.randrange(18)), [rng.choice(CONTESTS)],
                                                   "issued", FixedClock(EARLY_NOON))
            live.store.commit(evs)
        if batches >= clone_at and pos["T4"] > 0 and not live.ledger.terminals["T4"].held:
            clone()
    if not live.ledger.terminals["T4"].held:
        clone()
    live.store.close()
    return live.ledger


def _state(led: Ledger) -> dict[str, Any]:
    terms = led.terminals
    return {
        "terminals": [(t, ts.station, ts.acked_seq, ts.head, bytes(ts.hashes._buf), ts.held, ts.revoked)
                      for t, ts in terms.items()],
        "checkins": [(k, r.voter, r.ref, r.contests, dict(r.state), r.verdict, r.first)
                     for k, r in led.checkins.reading()],
        "verdict_wire": {t: led.verdict_wire(t, range(1, terms[t].acked_seq + 1)) for t in terms},
        "ballots": dict(led.ballots),
        "alerts": [(a.alert_id, a.voter, a.contest, a.ballots, a.active) for a in led.alert_log],
        "alert_keys": {k: a.alert_id for k, a in led.alerts.items()},
        "next_alert": led._next_alert,
        "flags": list(led.flags),
        "alarms": list(led.alarms),
        "other_events": list(led.other_events),
        "order": led.order,
        "provisional": getattr(led, "provisional_refs", None),
    }


@pytest.mark.parametrize("ledger_cls", [Ledger, RecordsLedger])
@pytest.mark.parametrize("seed", range(6))
def test_restart_rebuilds_the_live_ledger(hq: HqDir, seed: int, ledger_cls: type[Ledger]) -> None:
    live = _ingest(hq, ledger_cls, seed)
    want = _state(live)
    assert want["alerts"] and want["alarms"] and want["order"] > 100  # the case is not trivial
    kinds = {e.kind for e in _stored(hq)}
    assert {EventKind.ABSENTEE, EventKind.ABSENTEE_STATUS, EventKind.VOID, EventKind.WITHHELD} <= kinds
    for chunk in (1, 7, REPLAY_CHUNK):
        store = HqStore(hq)
        try:
            got = _state(store.load(ledger_cls, chunk=chunk))
        finally:
            store.close()
        for k in want:
            assert got[k] == want[k], (chunk, k)


def _stored(hq: HqDir) -> list[Event]:
    c = sqlite3.connect(hq.hq_db)
    try:
        return [decode(b) for (b,) in c.execute("SELECT body FROM events ORDER BY hq_order")]
    finally:
        c.close()


def test_commit_stores_each_kind_by_its_name(hq: HqDir) -> None:
    store = HqStore(hq)
    evs = [Event(k, i + 1, HLC0 + i, TerminalId("X9"), {}) for i, k in enumerate(EventKind)]
    store.commit(evs, now=0.0)
    rows = store.store.conn.execute("SELECT kind, body FROM events ORDER BY hq_order").fetchall()
    store.close()
    assert [r[0] for r in rows] == [k.value for k in EventKind]
    assert all(type(r[0]) is str for r in rows)
    assert [r[1] for r in rows] == [e.encode() for e in evs]


@pytest.mark.parametrize("chunk", [1, 2, 3, REPLAY_CHUNK])
def test_terminal_gone_from_registry_is_replayed_in_order_of_appearance(hq: HqDir, chunk: int) -> None:
    store = HqStore(hq)
    chk = {"station": "SX", "clerk": "c", "contests": ["gov"]}
    # T1 is registered at ST1 (its check-in names it); X1, X2 are gone: their station is "?"
    store.commit([Event(EventKind.CHECKIN, 1, HLC0, TerminalId("T1"), {**chk, "station": "ST1", "voter": "1"}),
                  Event(EventKind.CHECKIN, 1, HLC0 + 1, TerminalId("X2"), {**chk, "voter": "1"}),
                  Event(EventKind.CHECKIN, 1, HLC0 + 2, TerminalId("X1"), {**chk, "voter": "2"}),
                  Event(EventKind.CHECKIN, 2, HLC0 + 3, TerminalId("X2"), {**chk, "voter": "3"})], now=0.0)
    led = store.load(chunk=chunk)
    store.close()
    assert list(led.terminals)[-2:] == ["X2", "X1"]
    assert [(led.terminals[t].station, led.terminals[t].acked_seq) for t in ("X2", "X1")] == [("?", 2), ("?", 1)]
    holder = led.holder("1", "gov")
    assert holder is not None and holder.terminal == "T1" and led.checkins[("X2", 1)].already_voted


@pytest.mark.parametrize("bad, code", [(b'{"d":{"via":"scan","voter":"1"}, "h":1,"k":"lookup","s":2,"t":"T1"}',
                                        "event_not_canonical"),
                                       (b'{"d":{},"h":1,"k":"nope","s":2,"t":"T1"}', "event_invalid"),
                                       (b"not json", "event_invalid")])
@pytest.mark.parametrize("chunk", [1, 4, REPLAY_CHUNK])
def test_a_damaged_stored_event_stops_the_load_with_decodes_code(hq: HqDir, bad: bytes, code: str,
                                                                 chunk: int) -> None:
    store = HqStore(hq)
    store.commit([Event(EventKind.LOOKUP, 1, HLC0, TerminalId("T1"), {"voter": "1", "via": "scan"})], now=0.0)
    with store.store.atomic() as c:
        c.execute("INSERT INTO events(terminal, seq, hlc, kind, body, received_at) VALUES('T1', 2, 1, 'lookup', ?, 0)",
                  (bad,))
    store.commit([Event(EventKind.LOOKUP, 3, HLC0, TerminalId("T1"), {"voter": "1", "via": "scan"})], now=0.0)
    with pytest.raises(JournalCorrupt) as exc:
        decode(bad)
    assert exc.value.code == code
    with pytest.raises(JournalCorrupt) as exc:
        store.load(chunk=chunk)
    store.close()
    assert exc.value.code == code


def test_a_ledger_holds_no_reference_cycle(hq: HqDir) -> None:
    """``meibo hq serve`` freezes the loaded ledger (commands.py ``freeze_startup_heap``); that is
    safe only because a dropped ledger (HQ reloads after a failed commit) is freed by reference
    counting: nothing in it, live-built or replayed, read by reports or not, is in a cycle."""
    led: Ledger | None = _ingest(hq, RecordsLedger, 3)
    store = HqStore(hq)
    gc.collect()
    was_on = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the cyclic GC finds, to look at it
    mine = (Ledger, CheckinMap, CheckinRec, BallotMap, FlagLog, ChainHashes, TermState, Alert, Alarm, Event)
    try:
        for _ in range(2):  # the live-built ledger, then a replayed one
            assert led is not None
            _state(led)  # reading turns check-in rows into records: still acyclic
            gone = weakref.ref(led)
            led = None
            assert gone() is None
            gc.collect()  # only a cycle is left for it; none of the ledger's objects may be one
            assert not [o for o in gc.garbage if isinstance(o, mine)]
            gc.garbage.clear()
            led = store.load(RecordsLedger)
    finally:
        store.close()
        gc.set_debug(0)
        gc.garbage.clear()
        if was_on:
            gc.enable()
