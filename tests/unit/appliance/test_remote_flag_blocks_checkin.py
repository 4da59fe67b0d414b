"""Voted flags from HQ's stream stop a second ballot here; removing one (void elsewhere) frees it;
the hybrid logical clock moves past what was observed, also after reopening."""

from appliance.clock import FixedClock
from appliance.eligibility import Code
from appliance.hlc import pack
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter


def test_remote_flag_blocks_then_release_frees(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tdir = terminal_dir(tmp_path / "t", [voter("1")])
    far = pack(int(EARLY_NOON.timestamp() * 1000) + 3_600_000, 7)  # HQ clock an hour ahead
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:
        t.apply_remote_flag("1", "mayor", terminal="T02", station="E02", hlc=far, seq=4)
        r = t.checkin("1", "c1")
        assert [c.contest for c in r.handed] == ["shu", "shinsa", "governor"]
        (m,) = r.refused
        assert m.code is Code.ALREADY_VOTED and m.voted is not None and m.voted.station == "E02"
        assert r.event is not None and r.event.hlc > far
        t.apply_remote_flag("1", "mayor", terminal="T02", station="E02", hlc=far, seq=4, remove=True)
        assert [c.contest for c in t.checkin("1", "c1").handed] == ["mayor"]
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:  # clock restored from the journal/meta
        assert t.hlc.last >= far
