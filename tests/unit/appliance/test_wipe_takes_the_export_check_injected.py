"""appliance.wipe is the domain verb and does not import the sync protocol: the check of a forced
wipe's export file is passed in (the CLI passes sync_protocol/journal_file.verify_complete_export).
Here a fake check shows what it is given, that its refusal stops the wipe with everything kept, and
that a forced wipe without a check is a programming error, not a wipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance import atrest
from appliance.journal import Head
from appliance.wipe import ExportMismatch, wipe
from ground.clock import FixedClock
from tests.builders import EARLY_NOON
from tests.unit.appliance.test_wipe_only_after_hq_ack_or_verified_export import shm, station

__all__ = ["shm"]  # the fixture that puts the runtime key under tmp_path


def test_forced_wipe_runs_the_injected_check_with_this_terminal(tmp_path: Path) -> None:
    t = station(tmp_path / "t")
    seen: list[dict[str, Any]] = []

    def check(path: Path, *, election: str, terminal: str, device_pub: Path, head: Head) -> dict[str, Any]:
        seen.append({"path": path, "election": election, "terminal": terminal, "pub": device_pub, "seq": head.seq})
        return {"file": str(path), "events": head.seq}

    record = wipe(t, FixedClock(EARLY_NOON), tmp_path / "T01.mbj", check_export=check)
    assert seen == [{"path": tmp_path / "T01.mbj", "election": "yokohama-2027", "terminal": "T01",
                     "pub": t.device_pub, "seq": 3}]
    assert record["forced"] is True and record["export"] == {"file": str(tmp_path / "T01.mbj"), "events": 3}
    assert not t.store_path.exists()


def test_a_refusing_check_keeps_everything(tmp_path: Path) -> None:
    t = station(tmp_path / "t")

    def check(path: Path, *, election: str, terminal: str, device_pub: Path, head: Head) -> dict[str, Any]:
        raise ExportMismatch("no")

    with pytest.raises(ExportMismatch):
        wipe(t, FixedClock(EARLY_NOON), tmp_path / "T01.mbj", check_export=check)
    assert t.store_path.exists() and atrest.sealed_path(t).exists()


def test_forced_wipe_without_a_check_is_refused_before_anything(tmp_path: Path) -> None:
    t = station(tmp_path / "t")
    with pytest.raises(ValueError):
        wipe(t, FixedClock(EARLY_NOON), tmp_path / "T01.mbj")
    assert t.store_path.exists() and atrest.sealed_path(t).exists()
