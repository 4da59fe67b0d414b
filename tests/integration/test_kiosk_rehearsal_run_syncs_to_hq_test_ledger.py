"""The kiosk's 試験手順を実行 port (ui_kivy/rehearsal_service.py ``AreaPort.run``) with the kiosk's HQ
nodes named and a real HQ (TLS) in rehearsal mode: the sync step goes to HQ's test ledger and is
合格, run in a worker thread as the app runs it (HQ serves on the test's loop meanwhile); the
report PDF is written to TDIR/reports/."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance import rehearsal
from ground.clock import FixedClock
from hq import rehearsal_report as rr
from tests.builders import jst
from tests.integration.sync_env import make_env
from ui_kivy.presenters.rehearsal import RehearsalPresenter
from ui_kivy.rehearsal_service import AreaPort, reports_dir

pytestmark = [pytest.mark.timeout(60)]


async def test_sync_step_passes_against_hq_in_rehearsal_mode(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    env.clock = FixedClock(jst(2027, 4, 12, 9, 0))
    t1 = env.terminals["T01"]
    await env.start_hq()
    try:
        rr.start(env.hq, env.clock, ["T01"])
        rehearsal.start(t1, env.clock)
        port = AreaPort(t1, env.clock, hq=[t1.identity().hq_address], sync_timeout_s=10)
        presenter = RehearsalPresenter(port)
        rep = await asyncio.to_thread(presenter.run_steps)
        assert rep is not None, presenter.message
        by = {s.name: s for s in rep.steps}
        sync = by["通信の復帰と本部への送信"]
        assert sync.result == "PASS" and sync.word == "合格", sync
        assert "FAIL" not in {s.result for s in rep.steps}, rep
        assert Path(rep.pdf).parent == reports_dir(t1) and Path(rep.pdf).exists()
    finally:
        await env.stop_hq()
