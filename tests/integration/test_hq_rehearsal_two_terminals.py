"""HQ's rehearsal over real TLS 1.3 (issue 19 part 3): two terminals in test mode on HQ's test
ledger — check-ins, a double vote stopped online, one detected after an offline spell — the
report says PASS per step, finish is refused while a terminal is connected in test mode, and
ゼロ確認 leaves the real store's every table row-identical to before the rehearsal."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from hq import rehearsal_report as rr
from hq.paper_backup import DEFAULT_FONT
from hq.rehearsal import RehearsalError, area, online_terminals
from tests.integration.rehearsal_env import agent_in_test_mode, table_rows
from tests.integration.sync_env import checkin, make_env

CONTESTS = {"shu", "shinsa", "governor", "mayor"}


async def _until(cond, timeout=10.0):
    """Wait for an event the test can see; the deadline only bounds a failure."""
    async def poll():
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


def _pdf_pages(pdf) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return [p for p in out.split("\f") if p.strip()]


needs_pdf = pytest.mark.skipif(shutil.which("pdftotext") is None or not DEFAULT_FONT.exists(),
                               reason="poppler-utils and fonts-ipaexfont-gothic are needed")


@needs_pdf
async def test_rehearsal_on_the_test_ledger_then_zero_proof_and_the_real_store_unchanged(tmp_path):
    env = make_env(tmp_path)
    node = await env.start_hq()
    real_before = table_rows(env.hq.hq_db)
    started = rr.start(env.hq, env.clock, ["T01", "T02"])
    assert started["election"] == "sync-test.rehearsal"
    a, b = agent_in_test_mode(env, "T01"), agent_in_test_mode(env, "T02")
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await asyncio.wait_for(asyncio.gather(a.online.wait(), b.online.wait()), 10)
        # the staged double vote: the same voter at both stations at once, neither has heard yet
        (_, r1), (_, r2) = await asyncio.gather(checkin(a, "100001"), checkin(b, "100001"))
        assert not r1.provisional and not r2.provisional
        won, lost = (r1, r2) if not r1.withheld else (r2, r1)
        assert won.withheld == [] and set(lost.withheld) == CONTESTS
        assert {v.station for v in lost.verdicts if not v.accepted} == {"E01" if won is r1 else "E02"}
        test = node.rehearsal.ledger
        assert test is not None and test.election_id == "sync-test.rehearsal"
        assert test.ballot_count("100001", "governor") == 1
        assert node.ledger.checkins == {} and node.ledger.ballot_count("100001", "governor") == 0
    finally:
        a.stop(); b.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    # offline: both stations take the same voter without HQ, then come back
    a, b = agent_in_test_mode(env, "T01", budget=0.3), agent_in_test_mode(env, "T02", budget=0.3)
    _, ra = await checkin(a, "100002")
    _, rb = await checkin(b, "100002")
    assert ra.provisional and rb.provisional
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await asyncio.wait_for(asyncio.gather(a.online.wait(), b.online.wait()), 10)
        await _until(lambda: a.pending() == 0 and b.pending() == 0)
        test = node.rehearsal.ledger
        assert {(al.voter, al.contest) for al in test.active_alerts()} == {("100002", c) for c in CONTESTS}
        rep = rr.report(env.hq, env.clock, tmp_path / "report.pdf")
        assert rep["passed"], rep["steps"]
        assert [s["result"] for s in rep["steps"]] == ["PASS"] * 5
        pages = _pdf_pages(tmp_path / "report.pdf")
        assert pages and all("試験" in p for p in pages)
        st = rr.status(env.hq)
        assert st["online"] == ["T01", "T02"] and st["stations_refusing_real_checkins"] == ["E01", "E02"]
        with pytest.raises(RehearsalError) as e:
            rr.finish(env.hq, env.clock, tmp_path / "proof.pdf")
        assert e.value.code == "rehearsal_terminals_connected"
        assert (area(env.hq) / "hq.db").exists()  # refused: nothing destroyed
    finally:
        a.stop(); b.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    await _until(lambda: online_terminals(env.hq) == [])
    proof = rr.finish(env.hq, env.clock, tmp_path / "proof.pdf")
    assert proof["zero"] is True and proof["test_ledger_destroyed"] is True
    assert proof["real_records_from_test_ledger"] == 0 and proof["real_checkins_of_rehearsal"] == 0
    assert proof["test_records"] > 0 and proof["test_checkins"] == 4
    assert proof["real_checkins_at_start"] == proof["real_checkins_now"] == 0
    assert proof["report"]["passed"]
    assert not area(env.hq).exists()
    pages = _pdf_pages(tmp_path / "proof.pdf")
    assert pages and all("試験" in p for p in pages)
    assert "ゼロ確認:確認" in "".join(pages).replace(" ", "")
    assert table_rows(env.hq.hq_db) == real_before  # nothing of the test ledger reached the real store
    assert rr.status(env.hq)["on"] is False
    await env.stop_hq()


async def test_rehearsal_hello_refused_while_the_switch_is_off(tmp_path):
    env = make_env(tmp_path)
    node = await env.start_hq()
    real_before = table_rows(env.hq.hq_db)
    a = agent_in_test_mode(env, "T01")
    task = asyncio.create_task(a.run())
    try:
        await _until(lambda: a.refused is not None)
        assert a.refused == "rehearsal_not_started"
        assert not a.online.is_set()
        assert node.rehearsal.ledger is None and not area(env.hq).exists()
    finally:
        a.stop()
        await asyncio.gather(task, return_exceptions=True)
        await env.stop_hq()
    after = table_rows(env.hq.hq_db)
    assert (after["events"], after["refusals"]) == (real_before["events"], real_before["refusals"])
