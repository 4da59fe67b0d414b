"""The switch across processes, as an election office runs it: ``meibo hq serve`` in one process,
``meibo hq rehearsal …`` in another. The serving HQ notices the switch at the next rehearsal HELLO,
serves a terminal in test mode from its test ledger, and the other process's ``finish`` is
refused while that terminal is connected (rehearsal_terminals_connected, nothing removed), then
succeeds once it has left, with a zero proof."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hq.rehearsal import area
from tests.integration.rehearsal_env import agent_in_test_mode
from tests.integration.sync_env import checkin, make_env

MEIBO = str(Path(sys.executable).parent / "meibo")


def _meibo(*argv: str) -> tuple[int, dict]:
    p = subprocess.run([MEIBO, *argv, "--json"], capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


async def _until(cond, timeout=15.0):
    async def poll():
        while not cond():
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), timeout)


@pytest.mark.slow  # five meibo processes: ~10 s on a quiet machine, much more on a busy one (make soak)
async def test_finish_in_another_process_waits_for_the_test_terminal_to_leave(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    hq = str(env.hq.root)
    serve = subprocess.Popen([MEIBO, "hq", "serve", hq, "--dev-loopback", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert serve.stdout is not None
        assert json.loads(serve.stdout.readline())["code"] == "listening"
        assert _meibo("hq", "rehearsal", "start", hq)[1]["code"] == "rehearsal_started"
        a = agent_in_test_mode(env, "T01")
        task = asyncio.create_task(a.run())
        try:
            await asyncio.wait_for(a.online.wait(), 15)
            _, res = await checkin(a, "100001")
            assert not res.provisional and res.withheld == []
            await _until(lambda: a.pending() == 0)
            code, out = await asyncio.to_thread(_meibo, "hq", "rehearsal", "status", hq)
            assert out["online"] == ["T01"] and out["test_checkins"] == 1
            code, out = await asyncio.to_thread(_meibo, "hq", "rehearsal", "finish", hq)
            assert code != 0 and out["code"] == "rehearsal_terminals_connected"
            assert (area(env.hq) / "hq.db").exists()
        finally:
            a.stop()
            await asyncio.gather(task, return_exceptions=True)

        async def finished() -> dict:
            while True:  # the serving HQ writes who is connected as the link closes
                code, out = await asyncio.to_thread(_meibo, "hq", "rehearsal", "finish", hq)
                if out["code"] != "rehearsal_terminals_connected":
                    return out
                await asyncio.sleep(0.1)

        out = await asyncio.wait_for(finished(), 15)
        assert out["code"] == "rehearsal_zero_proof" and out["zero"] and out["test_checkins"] == 1
        assert out["real_checkins_now"] == 0 and not area(env.hq).exists()
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(15)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
