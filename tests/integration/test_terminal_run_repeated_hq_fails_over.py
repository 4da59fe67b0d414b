"""``meibo terminal run --hq A --hq B`` (issue 18): the option may be given once per HQ node, in the
order to try them, as ``terminal enroll --hq`` takes it; one address stays valid. A real run:
the first address has nobody listening, the agent passes over it and goes online at the second
(a real HQ over TLS 1.3), and a check-in made meanwhile gets HQ's online verdict. Bad addresses
are refused in Japanese with a stable code before anything is opened."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.main import build_parser, main
from sync_protocol.client import SOCKET_NAME, ask_agent
from tests.builders import EARLY_NOON
from tests.integration.hq_nodes_env import until
from tests.integration.sync_env import free_port, make_env

ROOT = Path(__file__).resolve().parents[2]
MEIBO = [sys.executable, "-m", "cli.main"]


@pytest.mark.parametrize("cmd", ["run", "sync"])
def test_hq_is_repeatable_in_order_and_one_stays_valid(cmd: str) -> None:
    parse = build_parser().parse_args
    assert parse(["terminal", cmd, "T", "--hq", "10.0.0.1:8443", "--hq", "10.0.0.2:8443"]).hq == [
        "10.0.0.1:8443", "10.0.0.2:8443"]
    assert parse(["terminal", cmd, "T", "--hq", "10.0.0.1:8443"]).hq == ["10.0.0.1:8443"]
    assert parse(["terminal", cmd, "T"]).hq is None


@pytest.mark.parametrize("bad, code", [(["hq-a"], "hq_address_malformed"),
                                       (["10.0.0.1:8443", "10.0.0.1:99999"], "hq_address_malformed"),
                                       (["10.0.0.1:8443", "10.0.0.1:8443"], "hq_address_duplicate")])
def test_a_bad_hq_address_is_refused_before_anything_opens(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           bad: list[str], code: str) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    tdir = env.terminals["T01"].root
    before = sorted(p.name for p in tdir.iterdir())
    argv = ["terminal", "run", str(tdir), "--json"]
    for a in bad:
        argv += ["--hq", a]
    assert main(argv) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["code"] == code and "本部のアドレス" in out["message"]
    assert sorted(p.name for p in tdir.iterdir()) == before  # no agent socket, nothing opened
    assert not (tdir / SOCKET_NAME).exists()


async def test_terminal_run_passes_over_a_dead_address_and_goes_online_at_the_next(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    tdir = env.terminals["T01"]
    dead, live = f"127.0.0.1:{free_port()}", f"127.0.0.1:{env.port}"
    await env.start_hq()
    p = await asyncio.create_subprocess_exec(*MEIBO, "terminal", "run", str(tdir.root), "--hq", dead, "--hq", live,
                                             "--json", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                             stderr=asyncio.subprocess.PIPE)
    try:
        assert p.stdout is not None
        ready = json.loads(await asyncio.wait_for(p.stdout.readline(), 30))
        assert ready["code"] == "running" and ready["hq_nodes"] == [dead, live]
        status: dict[str, Any] = {}

        async def poll() -> None:
            nonlocal status
            status = await ask_agent(tdir, {"op": "status"}) or {}

        async def online_at_live() -> None:
            while not (status.get("online") and status.get("hq") == live):
                await asyncio.sleep(0.05)
                await poll()

        await asyncio.wait_for(online_at_live(), 30)
        nodes = {n["address"]: n for n in status["hq_nodes"]}
        assert nodes[dead]["failures"] >= 1 and nodes[dead]["last_error"]
        assert nodes[live]["current"] and nodes[live]["failures"] == 0

        # A check-in by another process on the terminal goes through the running agent to HQ.
        c = await asyncio.create_subprocess_exec(*MEIBO, "terminal", "checkin", str(tdir.root), "100001", "--json",
                                                 "--now", EARLY_NOON.isoformat(),
                                                 cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(c.communicate(), 60)
        res = json.loads(out)
        assert c.returncode == 0, res
        assert res["code"] == "ok" and res["contests"]
        assert {row["status"] for row in res["contests"]} == {"ok"}  # HQ's verdict, not オフライン受付
        assert env.node is not None
        await until(lambda: env.node is not None and env.node.ledger.ballot_count(
            "100001", res["contests"][0]["contest"]) == 1, 15)  # type: ignore[arg-type]
    finally:
        if p.returncode is None:
            p.terminate()
        _, err_run = await asyncio.wait_for(p.communicate(), 30)
        await env.stop_hq()
    assert p.returncode == 0, err_run.decode()
