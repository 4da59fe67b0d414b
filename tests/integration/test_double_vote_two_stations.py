"""Double votes over real TLS 1.3: stopped online, detected after an outage."""

from __future__ import annotations

import asyncio

from tests.integration.sync_env import checkin, make_env


async def _settle(*agents, timeout=5.0):
    async def quiet():
        while any(a.pending() for a in agents):
            await asyncio.sleep(0.02)
    await asyncio.wait_for(quiet(), timeout)


async def _until(cond, timeout=10.0):
    """Wait for an event the test can see; the deadline only bounds a failure."""
    async def poll():
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def test_second_station_online_is_told_already_voted_and_hands_nothing(tmp_path):
    env = make_env(tmp_path)
    node = await env.start_hq()
    a, b = env.agent("T01"), env.agent("T02")
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await asyncio.wait_for(asyncio.gather(a.online.wait(), b.online.wait()), 5)
        # the same voter at both stations at once: neither has heard of the other yet
        (_, ra), (_, rb) = await asyncio.gather(checkin(a, "100001"), checkin(b, "100001"))
        assert not ra.provisional and not rb.provisional
        won, lost = (ra, rb) if not ra.withheld else (rb, ra)
        assert won.withheld == []
        assert sorted(lost.withheld) == sorted(["shu", "shinsa", "governor", "mayor"])
        winner_station = "E01" if won is ra else "E02"
        first = {v.contest: v for v in lost.verdicts}
        assert first["governor"].station == winner_station
        await _settle(a, b)
        assert node.ledger.active_alerts() == []
        assert node.ledger.ballot_count("100001", "governor") == 1
        # the loser keeps knowing the voter voted, even after withholding its own attempt
        loser = b if lost is rb else a
        assert set(loser.term.known_voted("100001")) == {"shu", "shinsa", "governor", "mayor"}
    finally:
        a.stop(); b.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await env.stop_hq()


async def test_hq_down_both_stations_check_in_then_exactly_one_alert(tmp_path):
    env = make_env(tmp_path)
    a, b = env.agent("T01", budget=0.3), env.agent("T02", budget=0.3)
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        _, ra = await checkin(a, "100002")
        _, rb = await checkin(b, "100002")
        assert ra.provisional and rb.provisional  # オフライン受付 at both
        node = await env.start_hq()
        await asyncio.wait_for(asyncio.gather(a.online.wait(), b.online.wait()), 10)
        await _settle(a, b)
        alerts = node.ledger.active_alerts()
        assert {(al.voter, al.contest) for al in alerts} == {("100002", c) for c in ("shu", "shinsa", "governor", "mayor")}
        assert all(len(al.ballots) == 2 for al in alerts)
        assert {x.terminal for x in alerts[0].ballots} == {"T01", "T02"}
        # whichever reached HQ second learns of it as a late alert
        await _until(lambda: len(a.late_alerts) + len(b.late_alerts) >= 4)
        assert len(a.late_alerts) + len(b.late_alerts) == 4
    finally:
        a.stop(); b.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await env.stop_hq()


async def test_voted_flag_reaches_a_terminal_that_was_offline_later(tmp_path):
    env = make_env(tmp_path)
    node = await env.start_hq()
    a = env.agent("T01")
    ta = asyncio.create_task(a.run())
    try:
        await asyncio.wait_for(a.online.wait(), 5)
        await checkin(a, "100003")
        await _settle(a)
    finally:
        a.stop()
        await asyncio.gather(ta, return_exceptions=True)
    b = env.agent("T02", budget=0.3)
    tb = asyncio.create_task(b.run())
    try:
        await asyncio.wait_for(b.online.wait(), 5)
        await _until(lambda: "governor" in b.term.known_voted("100003"))
        assert "governor" in b.term.known_voted("100003")
        await env.stop_hq()
        # now offline: the local roll still refuses a second ballot
        local = b.term.checkin("100003", "clerk1")
        assert local.seq is None
        assert {c.code.value for c in local.refused} == {"already_voted"}
    finally:
        b.stop()
        await asyncio.gather(tb, return_exceptions=True)
        await env.stop_hq()
