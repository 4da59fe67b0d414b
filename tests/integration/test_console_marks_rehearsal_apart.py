"""HQ's console while the rehearsal switch is on (issue 19 part 3): the header — on every page of
the console — starts 【試験】 with the test ledger's own figures, and the real figures after it
stay the real ledger's (0 check-ins while only test terminals check in); off again, no mark.
The console runs the HQ node itself (LocalHq) and follows it from another process's view
(RemoteHq) alike."""

from __future__ import annotations

import asyncio

from hq import rehearsal_report as rr
from hq.rehearsal import online_terminals
from tests.integration.rehearsal_env import agent_in_test_mode
from tests.integration.sync_env import checkin, make_env
from ui_kivy.console.backend import LocalHq, RemoteHq
from ui_kivy.console.presenter import ConsolePresenter


async def _until(cond, timeout=10.0):
    async def poll():
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def _header(source) -> str:
    p = ConsolePresenter(backend=source)
    data = await source.snapshot()
    p.link, p.rehearsal = source.link, source.rehearsal
    p.on_data(data)
    return p.header()


async def test_header_marks_test_and_keeps_the_figures_apart(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    node = await env.start_hq()
    local, remote = LocalHq(node, env.clock), RemoteHq(env.hq, env.clock)
    try:
        assert "試験" not in await _header(local)
        rr.start(env.hq, env.clock)
        a = agent_in_test_mode(env, "T01")
        task = asyncio.create_task(a.run())
        try:
            await asyncio.wait_for(a.online.wait(), 10)
            await checkin(a, "100001")
            await _until(lambda: a.pending() == 0)
            for source in (local, remote):
                head = await _header(source)
                assert head.startswith("【試験】リハーサル中（試験台帳: 受付 1 件")
                assert "試験モードの端末 T01" in head and "受信記録 0 件" in head  # the real ledger's
        finally:
            a.stop()
            await asyncio.gather(task, return_exceptions=True)
        await _until(lambda: online_terminals(env.hq) == [])
        rr.finish(env.hq, env.clock)
        assert "試験" not in await _header(local) and "試験" not in await _header(remote)
    finally:
        await local.close()
        await remote.close()
        await env.stop_hq()
