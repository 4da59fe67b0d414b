"""HQ's store keeps one contract on both backends (hq/store_db.py), each on a real engine: hq.db
(SQLite) and a PostgreSQL server started from Debian's binaries (tests/pg_fixtures.py, a fresh
database per test). Commit then load gives the ledger live ingest built; a duplicate
(terminal, seq) raises and changes nothing; a failed transaction leaves nothing; alarms,
rollbacks, contacts, alert actions, refusals and meta round-trip. Then what only a store URL can
get wrong: a bad URL and an unreachable server are refused with their codes, nothing written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from appliance.dirs import HqDir
from ground.clock import FixedClock
from ground.errors import ConfigInvalid, StorageFailed
from ground.model import TerminalId, VoterId
from hq.ledger import Alarm, Ledger
from hq.screen import CONTEST_UNKNOWN, VOTER_UNKNOWN, Refusal
from hq.store import MIGRATIONS, HqStore
from hq.store_db import EventAlreadyStored, Fenced, Leader, StoreUnreachable, StoreUrlInvalid, parse_store_url
from hq.store_pg import PG_MIGRATIONS, PgHqDb
from hq.terminals import hq_init
from tests.builders import EARLY_NOON, election_toml
from tests.pg_fixtures import PgServer
from tests.unit.sync_protocol.reports_day import Day, build

CLOCK = FixedClock(EARLY_NOON)


@pytest.fixture(scope="module")
def day() -> Day:
    return build()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, day: Day) -> Path:
    root = tmp_path_factory.mktemp("hq-contract")
    cfg = root / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq_init(root / "hq", cfg, CLOCK)
    terms = [{"terminal": t, "station": ts.station, "device_pub": "00" * 32, "revoked": False}
             for t, ts in day.ledger.terminals.items() if t != "HQ"]
    (root / "hq" / "terminals.json").write_text(json.dumps(terms), "utf-8")
    return root / "hq"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str | None:
    """The store URL of a fresh, empty store: None is hq.db; a DSN a new PostgreSQL database."""
    if request.param == "sqlite":
        return None
    server: PgServer = request.getfixturevalue("pg_server")
    return server.fresh_database()


@pytest.fixture
def hq(template: Path, tmp_path: Path) -> HqDir:
    shutil.copytree(template, tmp_path / "hq")
    return HqDir(tmp_path / "hq")


@pytest.fixture
def store(hq: HqDir, url: str | None) -> Iterator[HqStore]:
    s = HqStore(hq, CLOCK, store_url=url)
    try:
        yield s
    finally:
        s.close()


def reopen(store: HqStore) -> HqStore:
    """The same store opened again, as a restarted HQ opens it."""
    store.close()
    return HqStore(store.hq, CLOCK, store_url=None if store.url.backend == "sqlite" else store.url.dsn)


def state(led: Ledger) -> dict[str, Any]:
    terms = led.terminals
    return {
        "terminals": [(t, ts.acked_seq, ts.head) for t, ts in terms.items()],
        "checkins": [(k, r.voter, r.ref, dict(r.state), r.verdict) for k, r in led.checkins.reading()],
        "verdict_wire": {t: led.verdict_wire(t, range(1, terms[t].acked_seq + 1)) for t in terms},
        "alerts": [(a.alert_id, a.voter, a.contest, a.ballots, a.active) for a in led.alert_log],
        "flags": list(led.flags),
        "other_events": list(led.other_events),
        "order": led.order,
    }


def refusal(terminal: str, seq: int, code: str = VOTER_UNKNOWN) -> Refusal:
    return Refusal(TerminalId(terminal), seq, code, VoterId("99"), ("shu",), "E01", "E02", 1, "c")


def test_commit_then_load_gives_the_ledger_ingest_built(store: HqStore, day: Day) -> None:
    half = len(day.events) // 2
    store.commit(day.events[:half])
    store.commit(day.events[half:])  # two transactions, one order
    store = reopen(store)
    try:
        want = state(day.ledger)
        for chunk in (1, 7, 2048):
            assert state(store.load(type(day.ledger), chunk=chunk)) == want, chunk
    finally:
        store.close()


def test_a_duplicate_terminal_seq_raises_and_changes_nothing(store: HqStore, day: Day) -> None:
    store.commit(day.events[:10])
    before = state(store.load(type(day.ledger)))
    fresh = day.events[10:12]
    with pytest.raises(EventAlreadyStored) as exc:
        store.commit([*fresh, day.events[3]], refusals=[refusal(day.events[10].terminal, day.events[10].seq)])
    assert exc.value.code == "event_duplicate"
    assert isinstance(exc.value, StorageFailed)
    store = reopen(store)
    try:
        assert state(store.load(type(day.ledger))) == before  # the fresh two did not go in either
        assert store.decisions() == {}
        store.commit(fresh)  # and the store still takes the next commit
        assert store.load(type(day.ledger)).order == before["order"] + 2
    finally:
        store.close()


def test_a_failed_transaction_leaves_nothing(store: HqStore, day: Day) -> None:
    class Boom(Exception):
        pass

    def events() -> Iterator[Any]:
        yield from day.events[:5]
        raise Boom  # mid-batch: the rows are built before the transaction, so nothing starts

    with pytest.raises(Boom):
        store.commit(events())
    with pytest.raises(EventAlreadyStored):  # a failure inside the transaction: the same
        store.commit([day.events[0], day.events[0]])
    store = reopen(store)
    try:
        assert store.load(type(day.ledger)).order == 0
    finally:
        store.close()


def test_refusals_are_stored_with_their_events_and_replace_by_key(store: HqStore, day: Day) -> None:
    ev = day.events[0]
    r1 = refusal(ev.terminal, ev.seq)
    store.commit([ev], refusals=[r1, refusal(ev.terminal, ev.seq, CONTEST_UNKNOWN)])
    store.commit([day.events[1]], refusals=[Refusal(r1.terminal, r1.seq, r1.code, VoterId("77"), ("shu",),
                                                     "E01", "E02", 2, "c")])
    store = reopen(store)
    try:
        got = store.decisions()
        assert sorted(r.code for r in got[(ev.terminal, ev.seq)]) == sorted([CONTEST_UNKNOWN, VOTER_UNKNOWN])
        assert {r.code: r.voter for r in got[(ev.terminal, ev.seq)]}[VOTER_UNKNOWN] == "77"
    finally:
        store.close()


def test_alarms_rollbacks_contacts_alert_actions_and_meta_round_trip(store: HqStore) -> None:
    store.record_alarm(Alarm(TerminalId("TE1"), 4, "changed_event", "aa", "bb"))
    store.record_rollback(TerminalId("TE2"), 3, 5, now=1000.5)
    store.touch(TerminalId("TE1"), "10.0.0.5", json.dumps({"bars": 3}))
    store.touch(TerminalId("TE1"), "10.0.0.6")  # a touch without radio keeps the last one
    store.set_alert_state(1, "investigating", "選管 山本", "2027-04-20T10:00:00+09:00", "確認中")
    store.set_alert_state(1, "resolved", "選管 山本", "2027-04-20T11:00:00+09:00", "")
    store.db.set_meta("k", "v1")
    store.db.set_meta("k", "v2")
    with pytest.raises(StorageFailed):
        store.set_alert_state(1, "lost", "x", "t", "")
    store = reopen(store)
    try:
        assert store.db.open_alarms() == [("TE1", 4, "changed_event", "aa", "bb")]
        assert store.rollbacks() == [("TE2", 3, 5, 1000.5)]
        assert store.contacts() == {"TE1": (EARLY_NOON.timestamp(), "10.0.0.6", json.dumps({"bars": 3}))}
        assert store.alert_states() == {1: [
            {"state": "investigating", "who": "選管 山本", "at": "2027-04-20T10:00:00+09:00", "note": "確認中"},
            {"state": "resolved", "who": "選管 山本", "at": "2027-04-20T11:00:00+09:00", "note": ""}]}
        assert store.db.get_meta("k") == "v2" and store.db.get_meta("none", "d") == "d"
    finally:
        store.close()


def test_reopening_runs_no_migration_twice(store: HqStore) -> None:
    store.touch(TerminalId("TE1"), "p")
    store = reopen(store)
    try:
        store = reopen(store)
        assert list(store.contacts()) == ["TE1"]
    finally:
        store.close()


# --- what a store URL can get wrong ---------------------------------------------------------

@pytest.mark.parametrize("text", ["mysql://x/y", "hq.db", "postgresql://[::1", "host=a port=x=y 'open"])
def test_a_bad_store_url_is_refused_with_its_code(hq: HqDir, text: str) -> None:
    with pytest.raises(StoreUrlInvalid) as exc:
        HqStore(hq, CLOCK, store_url=text)
    assert exc.value.code == "store_url_invalid" and exc.value.message
    assert not hq.hq_db.exists()  # nothing half-written


def test_a_password_in_election_toml_is_refused() -> None:
    for text in ("postgresql://hq:secret@db/meibo", "host=db password=secret dbname=meibo"):
        with pytest.raises(StoreUrlInvalid) as exc:
            parse_store_url(text, from_config=True)
        assert "secret" not in exc.value.message
    assert parse_store_url("host=a,b dbname=meibo target_session_attrs=read-write").backend == "postgresql"
    assert parse_store_url(None).backend == parse_store_url("sqlite").backend == "sqlite"


def test_an_unreachable_server_is_refused_and_nothing_is_written(hq: HqDir, tmp_path: Path) -> None:
    dsn = f"host={tmp_path} port=1 dbname=meibo password=hunter2 connect_timeout=2"  # no server on that socket
    with pytest.raises(StoreUnreachable) as exc:
        HqStore(hq, CLOCK, store_url=dsn)
    assert exc.value.code == "store_unreachable" and "hunter2" not in exc.value.message
    assert not hq.hq_db.exists()


def _with_store_line(hq: HqDir, value: str) -> None:
    """election.toml's ``[hq]`` with a ``store = …`` line."""
    text = hq.config_path.read_text("utf-8")
    hq.config_path.write_text(text.replace("[hq]\n", f"[hq]\nstore = {json.dumps(value)}\n", 1), "utf-8")


def test_election_toml_names_the_store_and_the_option_overrides_it(hq: HqDir, pg_server: PgServer) -> None:
    dsn = pg_server.fresh_database()
    _with_store_line(hq, dsn)
    assert hq.config().hq_store == dsn
    s = HqStore(hq, CLOCK)
    try:
        assert s.url.backend == "postgresql" and not hq.hq_db.exists()
        s.touch(TerminalId("TE1"), "p")
        with pytest.raises(StorageFailed) as exc:  # SQL on hq.db is refused, never half-done
            s.store
        assert exc.value.code == "store_backend_unsupported"
    finally:
        s.close()
    s = HqStore(hq, CLOCK, store_url="sqlite")  # --store sqlite: hq.db whatever election.toml says
    try:
        assert s.url.backend == "sqlite" and s.contacts() == {}
    finally:
        s.close()


def test_a_store_that_is_not_text_is_a_config_problem(hq: HqDir) -> None:
    text = hq.config_path.read_text("utf-8")
    hq.config_path.write_text(text.replace("[hq]\n", "[hq]\nstore = 5\n", 1), "utf-8")
    with pytest.raises(ConfigInvalid) as exc:
        hq.config()
    assert [p.column for p in exc.value.problems] == ["hq.store"]


def test_both_backends_make_the_same_tables(hq: HqDir, pg_server: PgServer) -> None:
    sqlite_store = HqStore(hq, CLOCK)
    pg_store = HqStore(hq, CLOCK, store_url=pg_server.fresh_database())
    try:
        lite = {n for (n,) in sqlite_store.store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        with psycopg.connect(pg_store.url.dsn) as c:
            pg = {n for (n,) in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            done = [n for (n,) in c.execute("SELECT name FROM schema_migrations ORDER BY version")]
    finally:
        sqlite_store.close()
        pg_store.close()
    assert lite - {"_sqlite_migrations"} == pg - {"schema_migrations"}
    assert done == [m.__name__.strip("_") for m in PG_MIGRATIONS] and len(PG_MIGRATIONS) == len(MIGRATIONS)


def test_postgresql_commits_are_synchronous_and_a_multi_host_dsn_finds_the_live_server(
        hq: HqDir, pg_server: PgServer, tmp_path: Path) -> None:
    dsn = pg_server.fresh_database()
    params = conninfo_to_dict(dsn)
    # the first host is dead (no server on that socket); libpq tries the next, read-write only
    multi = make_conninfo(dsn, host=f"{tmp_path},{params['host']}", port=f"1,{params['port']}",
                          target_session_attrs="read-write")
    s = HqStore(hq, CLOCK, store_url=multi)
    try:
        assert isinstance(s.db, PgHqDb)
        s.touch(TerminalId("TE1"), "p")
        assert s.db._read("SHOW synchronous_commit") == [("on",)]
    finally:
        s.close()
    s = HqStore(hq, CLOCK, store_url=dsn)
    try:
        assert list(s.contacts()) == ["TE1"]
    finally:
        s.close()


def test_a_claim_bumps_the_epoch_and_leader_names_the_claimant(store: HqStore) -> None:
    assert store.leader() == Leader("", 0, 0.0)  # nobody has served this store yet
    first = store.claim("hq-a")
    assert first == Leader("hq-a", 1, EARLY_NOON.timestamp()) == store.leader()
    store = reopen(store)  # what a restarted HQ (or the console) reads
    try:
        assert store.leader() == first
        assert store.claim("hq-b").epoch == 2
        assert store.leader().node == "hq-b"
    finally:
        store.close()


def test_sqlite_one_hq_per_file_so_the_fence_is_a_no_op(hq: HqDir, day: Day) -> None:
    # hq.db is this machine's file: a second claim there is the same HQ restarted, not a rival
    a, b = HqStore(hq, CLOCK), HqStore(hq, CLOCK)
    try:
        a.claim("hq-a")
        b.claim("hq-b")
        a.commit(day.events[:3])
        assert b.load(type(day.ledger)).order == 3
    finally:
        a.close()
        b.close()


def test_a_newer_claim_fences_the_old_claimant_and_it_writes_nothing(hq: HqDir, pg_server: PgServer,
                                                                     day: Day) -> None:
    dsn = pg_server.fresh_database()
    a = HqStore(hq, CLOCK, store_url=dsn)
    b = HqStore(hq, CLOCK, store_url=dsn)
    try:
        assert a.claim("hq-a").epoch == 1
        a.commit(day.events[:5], refusals=[refusal(day.events[0].terminal, day.events[0].seq)])
        assert b.claim("hq-b").epoch == 2  # B starts: A's acknowledged five are what B loads
        writes = [lambda: a.commit(day.events[5:9], refusals=[refusal(day.events[5].terminal, day.events[5].seq)]),
                  lambda: a.record_alarm(Alarm(TerminalId("TE1"), 1, "clone", "aa", "bb")),
                  lambda: a.record_rollback(TerminalId("TE1"), 1, 2),
                  lambda: a.touch(TerminalId("TE1"), "p"),
                  lambda: a.set_alert_state(1, "open", "w", "t", "n"),
                  lambda: a.db.set_meta("k", "v"),
                  lambda: a.commit([])]  # the barrier before a WELCOME: nothing to write, still fenced
        for write in writes:
            with pytest.raises(Fenced) as exc:
                write()
            assert exc.value.code == "hq_fenced" and exc.value.details["leader"] == "hq-b"
        assert a.leader().node == "hq-b"  # A can still read who leads (its console shows it)
        led = b.load(type(day.ledger))
        assert led.order == 5 and list(b.decisions()) == [(day.events[0].terminal, day.events[0].seq)]
        assert (b.db.open_alarms(), b.rollbacks(), b.contacts(), b.alert_states(), b.db.get_meta("k")) == \
            ([], [], {}, {}, None)  # nothing of A's after B's claim
        b.commit(day.events[5:9])  # and B writes
        assert b.load(type(day.ledger)).order == 9
    finally:
        a.close()
        b.close()


def test_a_claim_waits_for_the_commit_in_flight_which_the_new_leader_then_loads(
        hq: HqDir, pg_server: PgServer, day: Day) -> None:
    # FOR SHARE on the leadership row: A's commit is either wholly before B's claim or refused
    dsn = pg_server.fresh_database()
    a = HqStore(hq, CLOCK, store_url=dsn)
    a.claim("hq-a")
    held = psycopg.connect(dsn, autocommit=True)
    b = HqStore(hq, CLOCK, store_url=dsn)
    try:
        with held.transaction():  # a write in flight holding the row, as A's commit does
            held.execute("SELECT epoch FROM leadership WHERE id = 1 FOR SHARE")
            with psycopg.connect(dsn, autocommit=True) as probe:
                probe.execute("SET statement_timeout = '300ms'")
                with pytest.raises(psycopg.errors.QueryCanceled):  # the claim's UPDATE has to wait
                    probe.execute("UPDATE leadership SET epoch = epoch + 1 WHERE id = 1")
        b.claim("hq-b")
        with pytest.raises(Fenced):
            a.commit(day.events[:2])
        assert b.load(type(day.ledger)).order == 0
    finally:
        held.close()
        a.close()
        b.close()


def test_a_restarted_server_costs_one_store_unreachable_then_the_store_reconnects(
        hq: HqDir, pg_server: PgServer) -> None:
    # last in the module: it restarts the module's server under the other tests' databases
    s = HqStore(hq, CLOCK, store_url=pg_server.fresh_database())
    try:
        s.touch(TerminalId("TE1"), "p")
        pg_server.node.stop()
        pg_server.node.start()
        with pytest.raises(StoreUnreachable) as exc:  # the old session is gone: nothing written
            s.touch(TerminalId("TE2"), "q")
        assert exc.value.code == "store_unreachable"
        s.touch(TerminalId("TE3"), "r")  # the next call connects again
        assert set(s.contacts()) == {"TE1", "TE3"}
    finally:
        s.close()
