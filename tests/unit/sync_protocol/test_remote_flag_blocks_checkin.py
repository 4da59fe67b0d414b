"""Voted flags from HQ's stream, applied the way the running sync agent applies them
(``SyncAgent.apply_flags``, with its cursor), stop a second ballot here; a void elsewhere frees
it; the first flag of a voter and contest is the one a hard stop names; the hybrid logical clock
moves past what was observed, also after the terminal restarts."""

from __future__ import annotations

from pathlib import Path

from appliance.eligibility import Code
from ground.hlc import pack
from sync_protocol.client import META_CURSOR
from tests.builders import EARLY_NOON
from tests.integration.sync_env import make_env

VOTER = "100001"
FAR = pack(int(EARLY_NOON.timestamp() * 1000) + 3_600_000, 7)  # HQ's clock an hour ahead


def flag(pos: int, delta: int, *, station: str = "E02", terminal: str = "T02", seq: int = 4,
         contest: str = "mayor", hlc: int = FAR) -> tuple[object, ...]:
    return (pos, VOTER, contest, delta, station, terminal, seq, hlc)


def test_flag_from_the_stream_blocks_then_void_elsewhere_frees(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    agent = env.agent("T01")
    agent.apply_flags([flag(1, +1)], cursor=1)
    r = agent.term.checkin(VOTER, "c1")
    assert "mayor" not in [c.contest for c in r.handed] and r.handed
    (m,) = r.refused
    assert m.code is Code.ALREADY_VOTED and m.voted is not None and m.voted.station == "E02"
    assert r.event is not None and r.event.hlc > FAR
    agent.apply_flags([flag(2, -1)], cursor=2)
    assert [c.contest for c in agent.term.checkin(VOTER, "c1").handed] == ["mayor"]
    assert agent.store.get_meta(META_CURSOR) == "2"
    agent.term.close()


def test_first_flag_wins_and_own_flags_are_skipped(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    agent = env.agent("T01")
    agent.apply_flags([flag(1, +1, station="E02", terminal="T02"), flag(2, +1, station="E03", terminal="T03", seq=9),
                       flag(3, +1, station="E01", terminal="T01", seq=1, contest="governor")], cursor=3)
    assert agent.term.known_voted(VOTER)["mayor"].station == "E02"
    assert "governor" not in agent.term.known_voted(VOTER)  # T01's own check-ins come from its journal
    agent.term.close()


def test_clock_is_past_every_applied_flag_after_a_restart(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    agent = env.agent("T01")
    agent.apply_flags([flag(1, +1)], cursor=1)
    agent.term.close()
    with env.terminal("T01") as t:  # no check-in journaled since: the clock comes from meta
        assert t.hlc.last >= FAR
        assert t.checkin(VOTER, "c1").event.hlc > FAR  # type: ignore[union-attr]
