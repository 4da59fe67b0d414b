"""The console on a PostgreSQL-backed HQ (issue 18), on a real server (pg_database): a running
``HqNode`` stores in PostgreSQL (no hq.db appears), a terminal checks a voter in over TLS 1.3, and
both consoles, the in-process one (``LocalHq``, its own reading session) and the one beside a
serving HQ (``RemoteHq --store``), show the new check-in as the node's own ledger gives it, and name
the node that leads the store and since when in the header."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ground.clock import JST
from hq.records import HqFacts, RecordsLedger, console_data
from hq.server import HqNode, serve
from tests.integration.sync_env import checkin, make_env
from ui_kivy.console.backend import FollowSettings, LocalHq, RemoteHq
from ui_kivy.console.presenter import ConsolePresenter


async def _until(cond: Any, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_console_follows_an_hq_serving_on_postgresql(tmp_path, pg_database):
    env = make_env(tmp_path)
    node = env.node = HqNode(env.hq, ledger_cls=RecordsLedger, store_url=pg_database, node_name="hq-a")
    env.runner = await serve(node, "127.0.0.1", env.port)
    a = env.agent("T01", budget=1.0)
    task = asyncio.create_task(a.run())
    local = LocalHq(node, env.clock, FollowSettings(read_rows=2, slice_rows=1, per_refresh=3))
    remote = RemoteHq(env.hq, env.clock, batch=2, store_url=pg_database)
    try:
        before = await remote.snapshot()
        assert before.events == 0 and "接続できません" in remote.link  # no admin socket: records only
        _, res = await checkin(a, "100042")
        assert res is not None and not res.provisional

        async def seen_by_both() -> bool:
            return (await local.snapshot()).events == node.ledger.order == (await remote.snapshot()).events >= 1
        await _until(seen_by_both, "the check-in on both consoles")
        assert not (env.hq.root / "hq.db").exists()

        mine, seen = await local.snapshot(), await remote.snapshot()
        contacts, states = await node.io(lambda: (node.store.contacts(), node.store.alert_states()))
        full = console_data(node.ledger, node.store.config, HqFacts(contacts, states, {}, frozenset()), env.clock.now())
        assert mine.hourly == seen.hourly == full.hourly and mine.turnout == seen.turnout == full.turnout
        assert full.turnout.total >= 1

        since = datetime.fromtimestamp(node.leadership.since, JST).strftime("%Y-%m-%d %H:%M")
        for data in (mine, seen):
            assert data.leader is not None and data.leader.node == "hq-a"
            p = ConsolePresenter(remote)
            p.on_data(data)
            assert f"主系: hq-a（{since}から）" in p.header()
    finally:
        a.stop()
        await asyncio.gather(task, return_exceptions=True)
        await local.close()
        await remote.close()
        await env.stop_hq()
