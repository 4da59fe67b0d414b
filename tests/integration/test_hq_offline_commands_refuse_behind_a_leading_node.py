"""Offline HQ commands (no node serving on this machine) on a PostgreSQL store while another HQ
node leads (issue 18): ``meibo hq absentee`` and ``hq absentee-status`` (``hq alert`` and ``hq import``
go through the same guard, hq/ops.refuse_behind_leader) refuse with
「別の本部ノードが主系として稼働中です」 (hq_leader_running) and write nothing, since they would write
behind the leader's ledger unfenced; reads (``hq report``) still answer; once the leader has
stopped the same command records. Real PostgreSQL server (pg_database), real HqNode holding the
lead lock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from hq.server import HqNode
from tests.unit.sync_protocol.hq_day_dir import hq_with_day


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, object]]:
    rc = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    return rc, json.loads(out[-1])


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as c:
        row = c.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def test_offline_writes_are_refused_while_another_node_leads(
        tmp_path: Path, pg_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    hq, _ = hq_with_day(tmp_path)
    assert main(["hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", pg_database]) == 0
    capsys.readouterr()
    for p in hq.root.glob("hq.db*"):
        p.unlink()
    store = ["--store", pg_database, "--json"]
    absentee = ["hq", "absentee", str(hq.root), "30", "--contest", "shu", "--now", "2027-04-18T10:00", *store]
    leader = HqNode(hq, store_url=pg_database, node_name="hq-b")  # leads from "another machine": no admin socket here
    try:
        assert leader.lead_lock is not None and leader.lead_lock.held
        before = _events(pg_database)
        for argv in (absentee,
                     ["hq", "absentee-status", str(hq.root), "30", "--contest", "shu", "--state", "requested",
                      "--who", "選管 山本", "--now", "2027-04-18T10:00", *store]):
            rc, out = _run(capsys, argv)
            assert rc != 0 and out["code"] == "hq_leader_running", out
            assert "別の本部ノードが主系として稼働中です" in str(out.get("message", "")), out
        assert _events(pg_database) == before  # nothing written behind the leader
        rc, out = _run(capsys, ["hq", "report", str(hq.root), *store])
        assert rc == 0  # reads still answer
    finally:
        asyncio.run(leader.stop())  # its session ends: the lock is free
    rc, out = _run(capsys, absentee)
    assert rc == 0 and out["recorded"] == ["shu"], out
    assert _events(pg_database) == before + 1
