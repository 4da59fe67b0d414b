"""A voter id not on the roll is NotFound (code not_found) and nothing is recorded; marks are
checked; a check-in with no ballot to hand appends nothing."""

import pytest

from ground.clock import FixedClock
from ground.errors import NotFound, UsageError
from ground.model import Status
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter


def test_not_on_roll(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Terminal(terminal_dir(tmp_path / "t", [voter("1"), voter("2", status=Status.DELETED)]),
                  FixedClock(EARLY_NOON)) as t:
        with pytest.raises(NotFound) as e:
            t.checkin("999", "c1")
        assert e.value.code == "not_found"
        assert t.checkin("2", "c1").seq is None
        with pytest.raises(UsageError):
            t.checkin("1", "c1", {"colour": "red"})
        assert t.head().seq == 0
        r = t.checkin("1", "c1", {"proxy": True, "oath_reason": "仕事"})
        assert r.event is not None and r.event.data["proxy"] is True and r.event.data["oath_reason"] == "仕事"
