"""不在者投票 papers issued at HQ reach every terminal as a warning (never a block), and a
terminal may not forge HQ's notices."""

from __future__ import annotations

import asyncio

from ground.clock import FixedClock
from ground.events import Event, EventKind
from appliance.procedures import absentee_warning
from hq import ops as hq_ops
from tests.builders import EARLY_NOON
from tests.integration.sync_env import checkin, make_env


async def test_issued_absentee_papers_warn_at_the_station_without_blocking(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    node = await env.start_hq()
    a = env.agent("T01")
    task = asyncio.create_task(a.run())
    try:
        await asyncio.wait_for(a.online.wait(), 5)
        out = await node.admin({"op": "absentee_notice", "voter": "100007", "contests": ["governor"],
                                "state": "issued", "now": EARLY_NOON.isoformat()})
        assert out["code"] == "ok"
        for _ in range(60):
            warn = absentee_warning(a.term.store, a.term.config, "100007")
            if warn is not None:
                break
            await asyncio.sleep(0.05)
        assert warn is not None and "不在者投票" in warn.text
        _, res = await checkin(a, "100007")  # warned, not blocked
        assert res is not None and res.withheld == [] and not res.provisional
        assert node.ledger.active_alerts() == []
    finally:
        a.stop()
        await asyncio.gather(task, return_exceptions=True)
        await env.stop_hq()


def test_a_terminal_cannot_send_hq_notices(tmp_path):
    import pytest
    from sync_protocol.errors import BatchRejected
    from hq.ledger import Ledger

    led = Ledger("x")
    led.register("T01", "E01", b"\0" * 32)
    ev = Event(EventKind.ABSENTEE_STATUS, 1, 1, "T01", {"voter": "1", "contests": ["g"], "state": "issued"})
    with pytest.raises(BatchRejected):
        led.check_batch("T01", [ev], b"", 1, 1, "00", "00")
