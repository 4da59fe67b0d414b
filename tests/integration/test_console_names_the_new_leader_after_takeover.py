"""The console follows a change of leading HQ node on PostgreSQL (issue 18: 「どのノードが主系か、
いつからか」), on a real server: node hq-a leads and the console's header says so; hq-a stops and
node hq-b (made by ``hq add-node``) claims the store; the same console, still beside hq-a's
directory and no longer reaching its admin socket, names hq-b and the later time it took over,
and keeps every check-in made on either node."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from ground.clock import JST
from hq.nodes import add_node
from hq.records import RecordsLedger
from hq.server import HqNode, serve
from tests.integration.hq_nodes_env import until
from tests.integration.sync_env import checkin, make_env
from ui_kivy.console.backend import RemoteHq
from ui_kivy.console.presenter import ConsolePresenter


def _line(node: HqNode) -> str:
    since = datetime.fromtimestamp(node.leadership.since, JST).strftime("%Y-%m-%d %H:%M")
    return f"主系: {node.leadership.node}（{since}から）"


async def _settled(remote: RemoteHq, events: int) -> Any:
    data = await remote.snapshot()
    async with asyncio.timeout(20):
        while not (remote.caught_up and data.events >= events):
            await asyncio.sleep(0.02)
            data = await remote.snapshot()
    return data


async def test_console_names_the_node_that_took_over_and_since_when(tmp_path: Path, pg_database: str) -> None:
    env = make_env(tmp_path / "site")
    hq_b = add_node(env.hq, tmp_path / "hq-b", "hq-b", env.clock, host=f"127.0.0.1:{env.port}")
    remote = RemoteHq(env.hq, env.clock, batch=50, store_url=pg_database)
    a = env.agent("T01", budget=2.0)
    task = asyncio.create_task(a.run())
    try:
        node_a = env.node = HqNode(env.hq, ledger_cls=RecordsLedger, store_url=pg_database, node_name="hq-a")
        env.runner = await serve(node_a, "127.0.0.1", env.port)
        _, res = await checkin(a, "100001")
        assert res is not None and not res.provisional
        before = await _settled(remote, 1)
        p = ConsolePresenter(remote)
        p.on_data(before)
        assert before.leader is not None and before.leader.node == "hq-a"
        assert _line(node_a) in p.header()
        since_a = node_a.leadership.since
        await env.stop_hq()
        await until(lambda: not a.online.is_set(), 15)  # the terminal saw hq-a go

        node_b = env.node = HqNode(hq_b, ledger_cls=RecordsLedger, store_url=pg_database)  # leads as node.json says
        env.runner = await serve(node_b, "127.0.0.1", env.port)
        assert node_b.leadership.node == "hq-b" and node_b.leadership.since >= since_a
        await until(lambda: a.online.is_set(), 30)  # and is back, on hq-b
        _, res = await checkin(a, "100002")
        assert res is not None and not res.provisional
        after = await _settled(remote, 2)
        p.on_data(after)
        assert after.leader is not None and after.leader.node == "hq-b"
        assert _line(node_b) in p.header() and "hq-a" not in p.header()
        assert "接続できません" in remote.link  # hq-a's admin socket is gone: the records still show
        assert after.turnout.total == 2
    finally:
        a.stop()
        await asyncio.gather(task, return_exceptions=True)
        await env.stop_hq()
        await remote.close()
