"""A real check-in is refused while any terminal of its station is in test mode (issue 19 part 3),
over real TLS 1.3 with two terminals of one station: T01 in test mode, T03 checking in for real.
HQ refuses the whole check-in (no ballot, no flag) and says why in its verdict, so the terminal
withholds every ballot at once and the kiosk says 試験モードの端末が残っています, instead of handing them on
オフライン受付; the decision survives HQ's restart; after finish the station takes voters again."""

from __future__ import annotations

import asyncio

from hq import rehearsal_report as rr
from hq.rehearsal import online_terminals
from hq.screen import STATION_IN_REHEARSAL
from tests.integration.rehearsal_env import agent_in_test_mode
from tests.integration.sync_env import checkin, make_env
from ui_kivy.presenters.result import ResultKind, result_state
from ui_kivy.service import Outcome, TerminalService

CONTESTS = {"shu", "shinsa", "governor", "mayor"}


async def _until(cond, timeout=10.0):
    async def poll():
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


def _refused_at_hq(node, voter: str) -> None:
    assert all(node.ledger.ballot_count(voter, c) == 0 for c in CONTESTS)
    assert [(r.code, r.voter) for r in node.ledger.refusals] == [(STATION_IN_REHEARSAL, voter)]
    assert not any(f[1] == voter for f in node.ledger.flags_wire_after(0)[0])


async def test_connected_in_test_mode_stops_the_other_terminal_of_its_station(tmp_path):
    env = make_env(tmp_path, {"T01": "E01", "T03": "E01"})
    node = await env.start_hq()
    rr.start(env.hq, env.clock)
    test, real = agent_in_test_mode(env, "T01"), env.agent("T03")
    tasks = [asyncio.create_task(test.run()), asyncio.create_task(real.run())]
    try:
        await asyncio.wait_for(asyncio.gather(test.online.wait(), real.online.wait()), 10)
        assert node.rehearsal.stations() == frozenset({"E01"})
        local, res = await checkin(real, "100005")
        assert local.seq is not None
        assert not res.provisional and set(res.withheld) == CONTESTS  # a hard stop, not オフライン受付
        assert {(v.accepted, v.code) for v in res.verdicts} == {(False, STATION_IN_REHEARSAL)}
        assert real.term.known_voted("100005") == {}  # refused is not voted: the voter may come back
        _refused_at_hq(node, "100005")
        await _until(lambda: real.pending() == 0)
    finally:
        test.stop(); real.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await env.stop_hq()
    node = await env.start_hq()  # replayed as decided at first ingest
    try:
        _refused_at_hq(node, "100005")
        await _until(lambda: online_terminals(env.hq) == [])
        proof = rr.finish(env.hq, env.clock)
        assert proof["zero"] and proof["real_checkins_now"] == 1  # the refused one is evidence, not a ballot
        assert node.rehearsal.stations() == frozenset()
        real = env.agent("T03")
        task = asyncio.create_task(real.run())
        try:
            await asyncio.wait_for(real.online.wait(), 10)
            _, res = await checkin(real, "100006")
            assert not res.provisional and res.withheld == []
            assert node.ledger.ballot_count("100006", "governor") == 1
        finally:
            real.stop()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await env.stop_hq()


async def test_registered_by_the_switch_stops_its_station_before_it_connects(tmp_path):
    env = make_env(tmp_path, {"T01": "E01", "T03": "E01", "T02": "E02"})
    node = await env.start_hq()
    rr.start(env.hq, env.clock, ["T01"])
    real, other = env.agent("T03"), env.agent("T02")
    tasks = [asyncio.create_task(real.run()), asyncio.create_task(other.run())]
    try:
        await asyncio.wait_for(asyncio.gather(real.online.wait(), other.online.wait()), 10)
        # through the kiosk's service and result presenter: a stop that says why, not 投票済
        svc = TerminalService(real.term, real)
        svc.set_station("open", "supervisor")  # 開設 (the day's opening entry)
        answer = await svc.checkin("100007", "clerk1")
        assert not answer.provisional and {ln.outcome for ln in answer.lines} == {Outcome.REFUSED}
        state = result_state(answer)
        assert state.kind is ResultKind.INELIGIBLE and state.hand == () and not state.hard_stop
        assert all(w.reason.startswith("試験モードの端末が残っています") for w in state.withhold)
        _refused_at_hq(node, "100007")
        _, res = await checkin(other, "100008")  # another station: no terminal of it in test mode
        assert not res.provisional and res.withheld == []
    finally:
        real.stop(); other.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await env.stop_hq()
