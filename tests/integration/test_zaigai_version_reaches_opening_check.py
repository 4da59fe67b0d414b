"""HQ's published 在外選挙人名簿 version reaches a terminal in WELCOME over real TLS, and
``meibo terminal open-check`` goes red naming both versions when the station holds an older one,
then green once it installs HQ's current package."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from cli.main import main
from hq.roll import import_zaigai, publish_zaigai
from tests.builders import EARLY_NOON
from tests.builders_roll import NOW
from tests.builders_zaigai import GOOD, MORE, write_zaigai_csv
from tests.integration.sync_env import make_env

MEIBO = str(Path(sys.executable).parent / "meibo")


async def _open_check(tdir: Path, *extra: str) -> tuple[int, str]:
    """The real command in its own process (its own event loop; HQ serves in this test's loop)."""
    p = await asyncio.create_subprocess_exec(MEIBO, "terminal", "open-check", str(tdir), "--now",
                                             EARLY_NOON.isoformat(), *extra, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(p.communicate(), 60)
    assert p.returncode is not None
    return p.returncode, out.decode("utf-8")


async def test_zaigai_version_in_welcome_and_open_check(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    tdir = env.terminals["T01"]
    import_zaigai(env.hq, write_zaigai_csv(tmp_path / "z.csv", GOOD), [], NOW)
    v1 = publish_zaigai(env.hq, None, NOW).path
    import_zaigai(env.hq, write_zaigai_csv(tmp_path / "z.csv", MORE), [], NOW)
    v2 = publish_zaigai(env.hq, None, NOW).path
    assert main(["terminal", "install-zaigai", str(tdir.root), str(v1)]) == 0
    await env.start_hq()
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), 5)
        assert agent.hq_zaigai_version == 2 and agent.status()["hq_zaigai_version"] == 2
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
    try:
        rc, text = await _open_check(tdir.root, "--json")
        out = json.loads(text)
        assert rc == 1 and "zaigai_version_mismatch" in out["problems"]
        assert (out["local"]["zaigai_version"], out["hq"]["zaigai_version"]) == (1, 2)
        assert main(["terminal", "install-zaigai", str(tdir.root), str(v2)]) == 0
        _, text = await _open_check(tdir.root, "--json")
        out = json.loads(text)
        assert "zaigai_version_mismatch" not in out["problems"] and out["hq"]["zaigai_version"] == 2
    finally:
        await env.stop_hq()
