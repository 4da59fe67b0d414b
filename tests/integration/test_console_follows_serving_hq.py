"""The console beside an HQ serving in the same machine's other process (``RemoteHq``: admin
socket + read-only hq.db follower), against a real running ``HqNode`` with two real terminals
over TLS 1.3: both stations check one voter in while HQ is down (オフライン受付), HQ comes up, the
remote console shows the double vote, the stations and turnout exactly as the node's own ledger
gives them (and as the in-process console, ``LocalHq``, does), records a 不在者投票 and an alert
step through the admin socket, and keeps showing the records (saying HQ is unreachable) once
the node stops.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from ground.errors import HqUnreachable, MeiboError
from hq.records import HqFacts, RecordsLedger, console_data
from hq.server import ADMIN_SOCKET, HqNode, serve
from tests.integration.sync_env import checkin, make_env
from ui_kivy.console.backend import FollowSettings, LocalHq, RemoteHq


def _same_records(a: Any, b: Any) -> None:
    """Equal but for what only an in-process console can know (flags sent and not acknowledged),
    and the leading node, which the full rebuild here is not given (both consoles show the node's)."""
    strip = tuple(replace(s, unacked_flags=None) for s in a.stations)
    assert replace(a, stations=strip, leader=None) == replace(
        b, stations=tuple(replace(s, unacked_flags=None) for s in b.stations), leader=None)


async def _settled(source: Any) -> Any:
    """Refresh until the source says it has read everything committed (it says so meanwhile)."""
    data = await source.snapshot()
    while not source.caught_up:
        assert "記録を読み込み中" in source.link
        data = await source.snapshot()
    return data


async def _until(cond: Any, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_remote_console_follows_a_running_hq_and_acts_through_its_admin_socket(tmp_path):
    env = make_env(tmp_path)
    a, b = env.agent("T01", budget=0.3), env.agent("T02", budget=0.3)
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    # small batches and refreshes: the follower pages through hq.db, a few events per refresh
    remote = RemoteHq(env.hq, env.clock, batch=2, per_refresh=4)
    local: LocalHq | None = None
    try:
        _, ra = await checkin(a, "100042")
        _, rb = await checkin(b, "100042")
        assert ra.provisional and rb.provisional
        first = await remote.snapshot()  # nothing serving yet: records only, and it says so
        assert first.events == 0 and "接続できません" in remote.link
        with pytest.raises(HqUnreachable):
            await remote.absentee("100007", None)

        node = env.node = HqNode(env.hq, ledger_cls=RecordsLedger)
        env.runner = await serve(node, "127.0.0.1", env.port)
        admin = await node.serve_admin()
        # tiny reads and slices: the in-process console also fills in over several refreshes
        local = LocalHq(node, env.clock, FollowSettings(read_rows=2, slice_rows=1, per_refresh=3))

        async def both_in() -> bool:
            d = await remote.snapshot()
            return bool(d.alerts) and {s.terminal for s in d.stations if s.online} == {"T01", "T02"}
        await _until(both_in, "the double vote and both terminals online on the remote console")
        assert remote.link.startswith("別プロセスの本部サーバを監視中")

        # actions through the admin socket: a 不在者投票 and an alert step land in the node
        out = await remote.absentee("100007", None)
        assert out["code"] == "ok" and out["recorded"]
        alert_id = (await remote.snapshot()).alerts[0].alert_id
        await remote.set_alert(alert_id, "investigating", "選管 田中", "電話で確認中")
        with pytest.raises(MeiboError) as e:
            await remote.set_alert(999, "investigating", "選管 田中", "")
        assert e.value.code == "alert_unknown"

        async def absentee_in() -> bool:
            d = await remote.snapshot()
            moved = next(x for x in d.alerts if x.alert_id == alert_id)
            return d.turnout.by_kind_total.get("absentee") == 1 and moved.state == "investigating"
        await _until(absentee_in, "the 不在者投票 and the alert step on the remote console")

        # the remote follower, the in-process console and a full rebuild from the node's ledger agree
        seen = await _settled(remote)
        mine = await _settled(local)
        contacts, states = await node.io(lambda: (node.store.contacts(), node.store.alert_states()))
        full = console_data(node.ledger, node.store.config,
                            HqFacts(contacts, states, {}, frozenset(node.online())), env.clock.now())
        _same_records(seen, full)
        _same_records(mine, full)
        assert seen.leader is not None and seen.leader == mine.leader and seen.leader.node == node.node_name
        assert seen.events == node.ledger.order == full.events
        # one double vote per contest of the day, each with both check-ins marked オフライン受付
        assert len(seen.alerts) == len(node.store.config.contests) >= 2
        for alert in seen.alerts:
            assert alert.voter == "100042" and {s.terminal for s in alert.ballots} == {"T01", "T02"}
            assert all(s.provisional for s in alert.ballots)
            assert [h.who for h in alert.history] == (["選管 田中"] if alert.alert_id == alert_id else [])

        # HQ reloads its ledger from disk (as after a failed commit): the in-process console
        # starts over on the new ledger and still agrees with a full rebuild after a new event
        node.ledger = await node.io(node.store.load, RecordsLedger)
        await remote.absentee("100008", None)
        mine = await _settled(local)
        states = await node.io(node.store.alert_states)
        full = console_data(node.ledger, node.store.config,
                            HqFacts(contacts, states, {}, frozenset(node.online())), env.clock.now())
        _same_records(mine, full)
        assert mine.turnout.by_kind_total.get("absentee") == 2
        seen = await _settled(remote)
        _same_records(seen, full)

        # HQ stops: the remote console keeps the records and says HQ cannot be reached
        a.stop()
        b.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks = []
        admin.close()
        await local.close()
        local = None
        await env.stop_hq()
        (env.hq.root / ADMIN_SOCKET).unlink(missing_ok=True)
        after = await remote.snapshot()
        assert "接続できません" in remote.link
        assert after.events == seen.events and after.alerts == seen.alerts
        assert not any(s.online for s in after.stations)
        with pytest.raises(HqUnreachable):
            await remote.set_alert(alert_id, "resolved", "選管 田中", "解決")
    finally:
        for t in (a, b):
            t.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        if local is not None:
            await local.close()
        await remote.close()
        await env.stop_hq()
