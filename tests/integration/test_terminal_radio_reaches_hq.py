"""A terminal's LTE state (bars, carrier, closed APN) reaches HQ's contacts for the console."""

from __future__ import annotations

import asyncio
import json

from tests.integration.sync_env import make_env


async def test_radio_status_is_recorded_at_hq(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    node = await env.start_hq()
    a = env.agent("T01")
    task = asyncio.create_task(a.run())
    try:
        await asyncio.wait_for(a.online.wait(), 5)
        a.set_radio({"modem": "lte1", "bars": 3, "carrier": "NTT DOCOMO", "apn_ok": True, "registered": True,
                     "junk": "x" * 10_000})
        for _ in range(60):
            c = node.store.contacts().get("T01")
            if c and c[2]:
                break
            await asyncio.sleep(0.05)
        radio = json.loads(c[2])
        assert radio == {"modem": "lte1", "bars": 3, "carrier": "NTT DOCOMO", "apn_ok": True, "registered": True}
    finally:
        a.stop()
        await asyncio.gather(task, return_exceptions=True)
        await env.stop_hq()
