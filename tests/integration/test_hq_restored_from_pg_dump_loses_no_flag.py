"""HQ on PostgreSQL restored from a pg_dump over real TLS 1.3 (issue 18: "HQ's store restored from a
PostgreSQL backup (pg_dump/restore) behaves like issue 'HQ restored from a backup' requires").

The shape of test_hq_restored_from_backup_loses_no_flag.py, on a real PostgreSQL server
(tests/pg_fixtures.py): terminals A and B sync with HQ; the database is dumped with pg_dump while
HQ serves; A checks in 15 more voters; HQ is stopped and the dump restored; C checks in a new voter
X online; B syncs. B receives X's flag, A resends what the restore lost, and HQ records the rollback
(本部の記録が巻き戻っています). Two ways of taking and restoring the dump:

- ``meibo``: `meibo hq backup` (pg_dump -Fc of one snapshot, the manifest's figures of it) and
  `meibo hq restore --replace` into the same database (its rows dumped aside first, pg_restore,
  the manifest checked, the leadership epoch raised past the old leader's);
- ``dba``: the municipality's database administrator with the plain tools, `pg_dump -Fc` and
  `pg_restore` into a new database, nothing of meibo's; HQ is started on that database.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from hq import ops as hq_ops
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


def _dbname(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])


@pytest.mark.parametrize("how", ["meibo", "dba"])
async def test_flags_reach_every_terminal_after_hq_is_restored_from_a_pg_dump(
        how: str, tmp_path: Path, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    dsn = pg_server.fresh_database()
    env = make_env(tmp_path, TERMINALS)
    node = await _start_hq(env, dsn)
    a, b, c = env.agent("T01"), env.agent("T02"), env.agent("T03")
    ta, tb = await _run(a), await _run(b)
    dump = tmp_path / "dba.dump"
    try:
        for i in range(1, 6):
            await checkin(a, f"{100000 + i}")
        await checkin(b, "100100")
        await _until(lambda: a.pending() == 0 and b.pending() == 0 and bool(b.term.known_voted("100005")))

        if how == "meibo":  # taken while HQ serves
            rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "backup", str(env.hq.root),
                                              "--store", dsn, "--out", str(tmp_path / "backup"))
            assert rc == 0, out
            assert out["terminal_heads"] == {"T01": 5, "T02": 1} and "hq.dump" in out["files"]
            assert "hq.db" not in out["files"] and out["database"]["format"] == "pg_dump"
            assert out["database"]["tables"]["events"]["rows"] == out["database"]["hq_order_head"]
        else:
            await asyncio.to_thread(pg_server.node.dump, dump, _dbname(dsn))

        for i in range(6, 21):  # 15 more, acknowledged by HQ and passed on to B
            await checkin(a, f"{100000 + i}")
        await _until(lambda: a.pending() == 0 and bool(b.term.known_voted("100020")))
        assert a.link.acked_seq == 20
        await _stop(a, ta)
        await _stop(b, tb)
        old_epoch = node.store.leader().epoch
        await env.stop_hq()

        if how == "meibo":
            rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "restore", str(tmp_path / "backup"),
                                              str(env.hq.root), "--store", dsn)
            assert rc == 2 and out["code"] == "restore_target_not_empty"  # not without being told
            rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "restore", str(tmp_path / "backup"),
                                              str(env.hq.root), "--store", dsn, "--replace")
            assert rc == 0, out
            assert out["format"] == "pg_dump" and out["epoch"] > old_epoch  # a node that led before is fenced
            assert (Path(out["moved_aside"]) / "store-before-restore.dump").stat().st_size > 0
            assert not (env.hq.root / "hq.dump").exists() and not env.hq.hq_db.exists()
        else:  # the administrator's own restore, into a new database
            dsn = pg_server.fresh_database()
            await asyncio.to_thread(pg_server.node.restore, dump, _dbname(dsn))
        node = await _start_hq(env, dsn)
        assert node.ledger.terminals["T01"].acked_seq == 5  # the restore lost 15 of A's events

        tc = await _run(c)
        _, res = await checkin(c, "100500")  # X, online at another terminal
        assert res is not None and not res.provisional
        await _until(lambda: c.pending() == 0)
        await _stop(c, tc)

        b = _again(env, b)
        tb = await _run(b)
        await _until(lambda: bool(b.term.known_voted("100500")))  # the flag cursor into the old stream
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
