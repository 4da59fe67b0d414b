"""HQ's rehearsal with the real ledger on a real PostgreSQL server (tests/pg_fixtures.py): the
test ledger stays HQ's own SQLite file in HQDIR/rehearsal, a real check-in from the station of
the terminal in test mode is refused and the refusal is stored in PostgreSQL (replayed as decided
after HQ's restart), and finish's zero proof reads the real ledger through the same DSN."""

from __future__ import annotations

import asyncio

import pytest

from hq import rehearsal_report as rr
from hq.rehearsal import area, online_terminals
from hq.screen import STATION_IN_REHEARSAL
from hq.server import HqNode, HqSettings, serve
from tests.integration.rehearsal_env import agent_in_test_mode
from tests.integration.sync_env import Env, checkin, make_env
from tests.pg_fixtures import PgServer

CONTESTS = {"shu", "shinsa", "governor", "mayor"}


@pytest.fixture
def dsn(pg_server: PgServer) -> str:
    return pg_server.fresh_database()


async def _serve(env: Env, dsn: str) -> HqNode:
    env.node = HqNode(env.hq, HqSettings(), store_url=dsn)
    env.runner = await serve(env.node, "127.0.0.1", env.port)
    return env.node


async def _until(cond, timeout=10.0):
    async def poll():
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def test_rehearsal_beside_a_postgresql_ledger(tmp_path, dsn):
    env = make_env(tmp_path, {"T01": "E01", "T03": "E01"})
    node = await _serve(env, dsn)
    try:
        rr.start(env.hq, env.clock, store_url=dsn)
        test, real = agent_in_test_mode(env, "T01"), env.agent("T03")
        tasks = [asyncio.create_task(test.run()), asyncio.create_task(real.run())]
        try:
            await asyncio.wait_for(asyncio.gather(test.online.wait(), real.online.wait()), 10)
            _, ok = await checkin(test, "100001")
            assert not ok.provisional and ok.withheld == []
            _, res = await checkin(real, "100002")
            assert not res.provisional and set(res.withheld) == CONTESTS
            await _until(lambda: real.pending() == 0 and test.pending() == 0)
        finally:
            test.stop(); real.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert (area(env.hq) / "hq.db").exists() and not env.hq.hq_db.exists()  # real rows: PostgreSQL only
        await env.stop_hq()
        node = await _serve(env, dsn)
        assert [r.code for r in node.ledger.refusals] == [STATION_IN_REHEARSAL]
        assert node.ledger.ballot_count("100001", "shu") == 0  # the test voter is not in the real ledger
        await _until(lambda: online_terminals(env.hq) == [])
        proof = rr.finish(env.hq, env.clock, store_url=dsn)
        assert proof["zero"] and proof["real_records_from_test_ledger"] == 0
        assert (proof["real_checkins_at_start"], proof["real_checkins_now"]) == (0, 1)
        assert not area(env.hq).exists()
    finally:
        await env.stop_hq()
