"""HQ on PostgreSQL restored from a backup over real TLS 1.3 (issue 18: what issue 16 requires of
"HQ restored from a backup", on a real PostgreSQL server, tests/pg_fixtures.py).

The shape of test_hq_restored_from_backup_loses_no_flag.py: terminals A and B sync with HQ, whose
store is PostgreSQL; `meibo hq backup --store DSN --logical` exports the database's rows while HQ
serves; A checks in more voters; HQ is stopped and `meibo hq restore --store DSN --replace` puts the rows back into
the database; C checks in a new voter X online; B syncs. B receives X's flag (the mark chain sends
it the whole stream again), A resends what the restore lost, and HQ records the rollback
(本部の記録が巻き戻っています)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from appliance.dirs import HqDir
from ground.model import TerminalId
from hq import ops as hq_ops
from hq.store import HqStore
from tests.integration.restore_env import (
    start_hq_on as _start_hq,
    until as _until,
    run_agent as _run,
    stop_agent as _stop,
    agent_again as _again,
)
from tests.integration.sync_env import checkin, make_env
from tests.pg_fixtures import PgServer
from tests.security_helpers import meibo

TERMINALS = {"T01": "E01", "T02": "E02", "T03": "E01"}


async def test_flags_reach_every_terminal_after_hq_is_restored_from_a_postgresql_backup(
        tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, TERMINALS)
    node = await _start_hq(env, pg_database)
    a, b, c = env.agent("T01"), env.agent("T02"), env.agent("T03")
    ta, tb = await _run(a), await _run(b)
    try:
        for i in range(1, 6):
            await checkin(a, f"{100000 + i}")
        await checkin(b, "100100")
        await _until(lambda: a.pending() == 0 and b.pending() == 0 and bool(b.term.known_voted("100005")))

        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "backup", str(env.hq.root),
                                          "--store", pg_database, "--logical", "--out", str(tmp_path / "backup"))
        assert rc == 0 and out["terminal_heads"] == {"T01": 5, "T02": 1}  # taken while HQ serves
        assert out["store"] == "postgresql" and "hq.db" in out["files"]  # the database's rows, exported

        for i in range(6, 21):  # 15 more, acknowledged by HQ and passed on to B
            await checkin(a, f"{100000 + i}")
        await _until(lambda: a.pending() == 0 and bool(b.term.known_voted("100020")))
        assert a.link.acked_seq == 20
        await _stop(a, ta)
        await _stop(b, tb)
        await env.stop_hq()

        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "restore", str(tmp_path / "backup"),
                                          str(env.hq.root), "--store", pg_database, "--replace")
        assert rc == 0 and out["moved_aside"] and Path(out["moved_aside"]).is_dir()
        assert not env.hq.hq_db.exists()  # HQ's records went back into PostgreSQL, not into HQDIR
        kept = sqlite3.connect(Path(out["moved_aside"]) / "store-before-restore.db")
        try:  # the rows the restore replaced are kept, as the directory is
            assert kept.execute("SELECT max(seq) FROM events WHERE terminal='T01'").fetchone() == (20,)
        finally:
            kept.close()
        node = await _start_hq(env, pg_database)
        assert node.store.url.backend == "postgresql"
        assert node.ledger.terminals["T01"].acked_seq == 5  # the restore lost 15 of A's events

        tc = await _run(c)
        _, res = await checkin(c, "100500")  # X, online at another terminal
        assert res is not None and not res.provisional
        await _until(lambda: c.pending() == 0)
        await _stop(c, tc)

        b = _again(env, b)
        tb = await _run(b)
        await _until(lambda: bool(b.term.known_voted("100500")))  # before: never came
        a = _again(env, a)
        ta = await _run(a)  # A resends what the restore lost; HQ sees it went back in time
        await _until(lambda: node.ledger.terminals["T01"].acked_seq == 20 and a.pending() == 0)
        await _until(lambda: bool(b.term.known_voted("100020")))
        await _stop(b, tb)

        # the link is down: X comes to B, and B hands nothing
        local = b.term.checkin("100500", "clerk1")
        assert local.seq is None and local.handed == ()

        rep = await node.io(hq_ops.report, node.store, node.ledger)
        assert [(r["terminal"], r["hq_acked"], r["terminal_acked"]) for r in rep["rollbacks"]] == [("T01", 5, 20)]
        assert "本部の記録が巻き戻っています" in hq_ops.report_text(rep)
    finally:
        for agent in (a, b, c):
            agent.stop()
        await asyncio.gather(*(t for t in (ta, tb) if t is not None), return_exceptions=True)
        await env.stop_hq()


def test_a_backup_restored_into_a_fresh_database_gives_the_same_rows_and_a_damaged_one_changes_nothing(
        tmp_path: Path, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    first, fresh = pg_server.fresh_database(), pg_server.fresh_database()
    store = HqStore(env.hq, store_url=first)
    try:
        store.touch(TerminalId("T01"), "10.20.0.5", "3")
        store.record_rollback(TerminalId("T01"), 1, 2)
    finally:
        store.close()
    rc, out = meibo(monkeypatch, capsys, "hq", "backup", str(env.hq.root), "--store", first, "--logical", "--out",
                    str(tmp_path / "bk"))
    assert rc == 0, out
    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root), "--store", fresh)
    assert rc == 0, out  # a database with no HQ schema yet: made, filled, nothing to keep aside
    assert not (Path(out["moved_aside"]) / "store-before-restore.db").exists()
    for dsn in (first, fresh):
        store = HqStore(HqDir(env.hq.root), store_url=dsn)
        try:
            assert [r[:3] for r in store.rollbacks()] == [("T01", 1, 2)] and list(store.contacts()) == ["T01"]
        finally:
            store.close()

    exported = tmp_path / "bk" / "hq.db"
    data = exported.read_bytes()
    exported.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one byte of the exported rows changed
    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root), "--store", fresh)
    assert rc == 1 and out["code"] == "backup_invalid" and "hq.db" in out["message"]
    store = HqStore(HqDir(env.hq.root), store_url=fresh)
    try:
        assert len(store.rollbacks()) == 1
    finally:
        store.close()
