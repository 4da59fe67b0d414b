"""HQ restored from a backup over real TLS 1.3 (issue 16 part 1, the attack pass's reproduction).

Terminals A and B sync with HQ; `meibo hq backup` copies HQ while it serves; A checks in more
voters; HQ is stopped and `meibo hq restore` puts the copy back; C checks in a new voter X
online; B syncs. Before: B's flag cursor pointed past the restored, shorter stream, X's flag
landed on a position B had already passed, and B would hand X a second ballot offline. Now B
receives X's flag, A resends what the restore lost, and HQ records that it went back in time
(本部の記録が巻き戻っています: on the console and in `hq report`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hq import ops as hq_ops
from hq.store import HqStore
from tests.integration.restore_env import (
    until as _until,
    run_agent as _run,
    stop_agent as _stop,
    agent_again as _again,
)
from tests.integration.sync_env import checkin, make_env
from tests.security_helpers import meibo

TERMINALS = {"T01": "E01", "T02": "E02", "T03": "E01"}


async def test_flags_reach_every_terminal_after_hq_is_restored_from_a_backup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, TERMINALS)
    node = await env.start_hq()
    a, b, c = env.agent("T01"), env.agent("T02"), env.agent("T03")
    ta, tb = await _run(a), await _run(b)
    try:
        for i in range(1, 6):
            await checkin(a, f"{100000 + i}")
        await checkin(b, "100100")
        await _until(lambda: a.pending() == 0 and b.pending() == 0 and bool(b.term.known_voted("100005")))

        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "backup", str(env.hq.root),
                                          "--out", str(tmp_path / "backup"))
        assert rc == 0 and out["terminal_heads"] == {"T01": 5, "T02": 1}  # taken while HQ serves

        for i in range(6, 21):  # 15 more, acknowledged by HQ and passed on to B
            await checkin(a, f"{100000 + i}")
        await _until(lambda: a.pending() == 0 and bool(b.term.known_voted("100020")))
        assert a.link.acked_seq == 20
        await _stop(a, ta)
        await _stop(b, tb)
        await env.stop_hq()

        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "restore", str(tmp_path / "backup"),
                                          str(env.hq.root))
        assert rc == 0 and out["moved_aside"] and Path(out["moved_aside"]).is_dir()
        node = await env.start_hq()
        assert node.ledger.terminals["T01"].acked_seq == 5  # the restore lost 15 of A's events

        tc = await _run(c)
        _, res = await checkin(c, "100500")  # X, online at another terminal
        assert res is not None and not res.provisional
        await _until(lambda: c.pending() == 0)
        await _stop(c, tc)

        b = _again(env, b)
        tb = await _run(b)
        await _until(lambda: bool(b.term.known_voted("100500")))  # before: never came
        a = _again(env, a)
        ta = await _run(a)  # A resends what the restore lost; HQ sees it went back in time
        await _until(lambda: node.ledger.terminals["T01"].acked_seq == 20 and a.pending() == 0)
        await _until(lambda: bool(b.term.known_voted("100020")))
        await _stop(b, tb)

        # the link is down: X comes to B, and B hands nothing
        local = b.term.checkin("100500", "clerk1")
        assert local.seq is None and local.handed == ()

        rep = await node.io(hq_ops.report, node.store, node.ledger)
        assert [(r["terminal"], r["hq_acked"], r["terminal_acked"]) for r in rep["rollbacks"]] == [("T01", 5, 20)]
        assert "本部の記録が巻き戻っています" in hq_ops.report_text(rep)
    finally:
        for agent in (a, b, c):
            agent.stop()
        await asyncio.gather(*(t for t in (ta, tb) if t is not None), return_exceptions=True)
        await env.stop_hq()


def test_restore_refuses_a_damaged_backup_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    HqStore(env.hq).close()  # hq.db, as the first hq serve creates it
    rc, _ = meibo(monkeypatch, capsys, "hq", "backup", str(env.hq.root), "--out", str(tmp_path / "bk"))
    assert rc == 0
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text("utf-8"))
    assert "hq.db" in manifest["files"] and "terminals.json" in manifest["files"]
    reg = tmp_path / "bk" / "terminals.json"
    reg.write_text(reg.read_text("utf-8").replace("E01", "E02"), "utf-8")  # one byte changed, same size
    before = sorted(p.relative_to(env.hq.root) for p in env.hq.root.rglob("*"))
    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root))
    assert rc == 1 and out["code"] == "backup_invalid" and "terminals.json" in out["message"]
    assert sorted(p.relative_to(env.hq.root) for p in env.hq.root.rglob("*")) == before
    assert not list(tmp_path.glob("hq.before-restore-*")) and not (tmp_path / "hq.partial").exists()


def test_backup_refuses_a_directory_that_is_not_empty(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "old.txt").write_text("x", "utf-8")
    rc, out = meibo(monkeypatch, capsys, "hq", "backup", str(env.hq.root), "--out", str(tmp_path / "bk"))
    assert rc == 2 and out["code"] == "backup_exists"
    assert [p.name for p in (tmp_path / "bk").iterdir()] == ["old.txt"]
