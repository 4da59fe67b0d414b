"""``meibo hq serve --store DSN`` on a real PostgreSQL server (tests/pg_fixtures.py): a terminal
checks a voter in over real TLS 1.3 and HQ's verdict is committed to PostgreSQL, not hq.db; HQ
is stopped and started again, rebuilds its ledger from PostgreSQL, and the voter is refused at
another station, which had never heard of the voter before the restart."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hq.store import HqStore
from tests.integration.sync_env import Env, checkin, make_env
from tests.pg_fixtures import PgServer

MEIBO = str(Path(sys.executable).parent / "meibo")
CONTESTS = {"shu", "shinsa", "governor", "mayor"}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture
def dsn(pg_server: PgServer) -> str:
    return pg_server.fresh_database()


class Serving:
    """One ``meibo hq serve`` process, stopped with SIGTERM as an operator stops it."""

    def __init__(self, env: Env, dsn: str) -> None:
        self.p = subprocess.Popen([MEIBO, "hq", "serve", str(env.hq.root), "--dev-loopback", "--store", dsn,
                                   "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            pytest.fail(f"hq serve did not start: {self.p.stderr.read().decode() if self.p.stderr else ''}")
        assert json.loads(line)["code"] == "listening", line

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def serving(env: Env, dsn: str) -> Iterator[list[Serving]]:
    started: list[Serving] = []
    try:
        yield started
    finally:
        for s in started:
            s.stop()


async def _until(cond: object, timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), timeout)


async def test_restarted_hq_rebuilds_from_postgresql_and_refuses_the_voter_elsewhere(
        env: Env, dsn: str, serving: list[Serving]) -> None:
    serving.append(Serving(env, dsn))
    a = env.agent("T01")
    task = asyncio.create_task(a.run())
    try:
        await asyncio.wait_for(a.online.wait(), 10)
        local, res = await checkin(a, "100001")
        assert res is not None and not res.provisional and res.withheld == []  # HQ's verdict: first ballot
        assert {c.contest for c in local.handed} == CONTESTS
    finally:
        a.stop()
        await asyncio.gather(task, return_exceptions=True)
    serving[0].stop()
    assert serving[0].p.returncode == 0
    assert not env.hq.hq_db.exists()  # every row went to PostgreSQL

    serving.append(Serving(env, dsn))  # a new process: nothing but PostgreSQL remembers the check-in
    b = env.agent("T02")
    assert b.term.known_voted("100001") == {}
    task = asyncio.create_task(b.run())
    try:
        await asyncio.wait_for(b.online.wait(), 10)
        await _until(lambda: set(b.term.known_voted("100001")) == CONTESTS)  # the rebuilt flag stream
        assert {v.station for v in b.term.known_voted("100001").values()} == {"E01"}
        second, _ = await checkin(b, "100001")
        assert not second.handed  # refused at the second station: no ballot
        _, res2 = await checkin(b, "100002")  # and the restarted HQ still decides and commits
        assert res2 is not None and not res2.provisional and res2.withheld == []
    finally:
        b.stop()
        await asyncio.gather(task, return_exceptions=True)
    serving[1].stop()

    store = HqStore(env.hq, store_url=dsn)
    try:
        led = store.load()
        assert all(led.ballot_count("100001", c) == 1 for c in CONTESTS)
        assert all(led.ballot_count("100002", c) == 1 for c in CONTESTS)
        assert led.active_alerts() == []
        assert "T01" in store.contacts() and "T02" in store.contacts()
    finally:
        store.close()
    assert not env.hq.hq_db.exists()
