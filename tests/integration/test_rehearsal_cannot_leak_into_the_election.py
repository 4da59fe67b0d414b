"""リハーサル and ゼロ確認 on real terminals (enrolled by hq enroll-local, encrypted stores, opened
stations) and a real HQ over TLS 1.3: a whole rehearsal leaves the real journal byte for byte as it
was, its records are refused by every real election check, finishing destroys the test area and
proves the real journal empty, and finishing after a real check-in is refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from appliance import freshness, journal, rehearsal
from appliance.dirs import TerminalDir
from appliance.rehearsal_pdf import render_report
from appliance.rollinstall import install_package
from appliance.rollpkg import build_package, encode_voter, public_key_of
from appliance.store import Store
from appliance.synth import SynthSettings, write_roll_file
from cli.main import main
from cli.rehearsal import detect_double_votes, hq_versions, resolve_at, sync_round
from ground.errors import MeiboError, RollRejected
from ground.events import genesis_hash
from hq.ledger import Ledger
from hq.roll import import_roll, publish
from hq.session import HqSession
from sync_protocol.codec import PROTOCOL_VERSION, Frame, FrameType
from sync_protocol.crypto import sign_batch
from sync_protocol.errors import BatchRejected
from tests.integration.sync_env import Env, make_env


# a HELLO for the test id at HQ's real session: the election check refuses it (other_election);
# HQ's rehearsal side (hq/rehearsal.py) names the reason when the id is this election's rehearsal
NOT_STARTED = ("other_election", "rehearsal_not_started")


def _files(root: Path) -> dict[str, str]:
    """Every file of a terminal directory but the test area, with its sha256."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and rel.parts[0] != rehearsal.AREA:
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _journal_rows(env: Env, tid: str) -> list[tuple[Any, ...]]:
    with env.terminal(tid) as t:
        return [tuple(r) for r in t.store.conn.execute("SELECT seq, hlc, kind, body, hash FROM journal ORDER BY seq")]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def _cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    rc = main([*argv, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_whole_rehearsal_leaves_the_real_journal_byte_identical_and_finish_proves_zero(
        env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t1, t2 = env.terminals["T01"], env.terminals["T02"]
    before = _files(t1.root)
    assert before and "store.db" in before
    rc, out = _cli("terminal", "rehearsal", "start", str(t1.root), capsys=capsys)
    assert rc == 0 and out["election"] == "sync-test.rehearsal" and out["test_voters"] == rehearsal.TEST_VOTERS
    rc, again = _cli("terminal", "rehearsal", "start", str(t1.root), capsys=capsys)
    assert rc != 0 and again["code"] == "rehearsal_active"
    rehearsal.start(t2, env.clock)
    rc, st = _cli("terminal", "rehearsal", "status", str(t1.root), capsys=capsys)
    assert rc == 0 and st["active"] is True and st["test_journal_seq"] == 0
    rc, real = _cli("terminal", "checkin", str(t1.root), "100001", capsys=capsys)
    assert rc != 0 and real["code"] == "rehearsal_active"  # the real check-in path, refused
    rc, real = _cli("terminal", "tentative", str(t1.root), "--voter", "100001", "--reason", "claims_not_voted",
                    "--decided-by", "管理者", capsys=capsys)
    assert rc != 0 and real["code"] == "rehearsal_active"  # and 仮投票 (every path through ensure_accepting)

    # every test voter is marked, and the test roll is for the test id only
    with rehearsal.open_test_terminal(t1, env.clock) as term:
        names = [r[0] for r in term.store.conn.execute("SELECT name FROM voters")]
        assert names and all(n.startswith("【テスト】") for n in names)
        assert term.config.election_id == "sync-test.rehearsal"
        assert term.head().hash == genesis_hash("sync-test.rehearsal", "T01")

    rep = rehearsal.run(t1, env.clock, partner=t2, detect=detect_double_votes)
    by = {s.name: s for s in rep.steps}
    assert by["二重投票の検出（2 投票所、オフライン）"].result == "PASS", by
    assert by["通信の復帰と本部への送信"].result == "SKIP"
    assert [s.name for s in rep.steps if s.result == "FAIL"] == []
    assert rep.verdict == "INCOMPLETE"  # no HQ in rehearsal mode was given: said, not passed over
    pages = render_report(rep.as_dict(), tmp_path / "report.pdf")
    assert pages == 1 and (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")

    assert _files(t1.root) == before  # start + run: not one byte of the real terminal changed
    real_rows = _journal_rows(env, "T01")
    assert real_rows == []

    rc, proof = _cli("terminal", "rehearsal", "finish", str(t1.root), "--pdf", str(tmp_path / "zero.pdf"),
                     capsys=capsys)
    assert rc == 0, proof
    assert proof["verdict"] == "PASS_UNCONFIRMED" and proof["hq"] is None and proof["hq_unconfirmed_reason"]
    results = {c["name"]: c["result"] for c in proof["checks"]}
    assert results == {"本番の受付記録": "PASS", "本番の記録に試験の記録がない": "PASS",
                       "名簿・選挙の版が本部と一致": "未確認", "試験のデータの消去": "PASS"}
    assert proof["journal_head_seq"] == 0 and proof["journal_head_hash"] == genesis_hash("sync-test", "T01").hex()
    assert not (t1.root / rehearsal.AREA).exists() and not rehearsal.active(t1)
    head_records = [Path(p) for p in proof["destroyed"] if p.endswith(".head")]
    assert len(head_records) == 1 and head_records[0].parent == freshness.head_dir()  # the test store's
    assert not head_records[0].exists()
    assert (tmp_path / "zero.pdf").read_bytes().startswith(b"%PDF") and proof["pages"] == 1
    assert _journal_rows(env, "T01") == real_rows
    with env.terminal("T01") as t:  # out of test mode: the real check-in path works again
        assert t.checkin("100001", "clerk1").recorded
    rc, st = _cli("terminal", "rehearsal", "status", str(t1.root), capsys=capsys)
    assert st == {"code": "ok", "active": False}


def test_finish_is_refused_after_a_real_checkin_and_keeps_the_test_area(
        env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    t1 = env.terminals["T01"]
    with env.terminal("T01") as t:
        assert t.checkin("100001", "clerk1").recorded
    rehearsal.start(t1, env.clock)
    rc, out = _cli("terminal", "rehearsal", "finish", str(t1.root), capsys=capsys)
    assert rc != 0 and out["code"] == "real_journal_not_empty" and out["details"]["head_seq"] == 1
    assert rehearsal.active(t1) and (t1.root / rehearsal.AREA / "store.db").exists()
    assert not (t1.root / "zero-proof.json").exists()


def test_report_says_fail_when_a_step_differs(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t1 = env.terminals["T01"]
    rehearsal.start(t1, env.clock)
    # a poll worker checked the first test voter in by hand before the script: the script's own
    # check-in of that voter must then be refused, and the report must say so
    rc, first = _cli("terminal", "rehearsal", "checkin", str(t1.root), "0000000001", capsys=capsys)
    assert rc == 0 and first["rehearsal"] is True and first["seq"] == 1
    rc, rep = _cli("terminal", "rehearsal", "run", str(t1.root), "--pdf", str(tmp_path / "r.pdf"), capsys=capsys)
    assert rc == 1 and rep["code"] == "rehearsal_failed" and rep["verdict"] == "FAIL"
    step = next(s for s in rep["steps"] if s["name"] == "受付（テスト選挙人）")
    assert step["result"] == "FAIL" and "already_voted" in step["seen"] and "交付して記録" in step["expected"]
    assert (tmp_path / "r.pdf").exists() and rep["pages"] >= 1


def test_test_records_fail_every_real_election_check(env: Env) -> None:
    t1 = env.terminals["T01"]
    rehearsal.start(t1, env.clock)
    with rehearsal.open_test_terminal(t1, env.clock) as term:
        local = term.checkin("0000000001", "c")
        assert local.recorded
        events = journal.entries_after(term.store, 0)
        head = term.head()
        voters = [term.voter(r[0]) for r in term.store.conn.execute("SELECT voter_id FROM voters LIMIT 3")]
    key = SigningKey(t1.device_key.read_bytes())
    rid = "sync-test.rehearsal"
    prev = genesis_hash(rid, "T01")
    sig = sign_batch(key, rid, "T01", 1, head.seq, prev, head.hash)
    real = Ledger("sync-test")
    real.register("T01", "E01", bytes(key.verify_key))
    with pytest.raises(BatchRejected):  # the batch replayed to the real ledger: refused, nothing applied
        real.check_batch("T01", events, sig, 1, head.seq, prev.hex(), head.hash.hex())
    assert real.voted_set() == set() and real.terminals["T01"].acked_seq == 0
    # HELLO naming the test id, to a real HQ session
    s = HqSession(real, "T01")
    r = s.receive(Frame(FrameType.HELLO, {"v": PROTOCOL_VERSION, "election": rid, "terminal": "T01",
                                          "station": "E01", "cursor": 0, "acked": 0}))
    assert r.close and r.send[0].type is FrameType.REFUSED
    assert r.send[0].header["code"] in NOT_STARTED
    # a test roll package into the real store: refused by the installer's election check
    seed = b"\x07" * 32
    pkg, _ = build_package(election_id=rid, version=99, base_version=None, kind="full",
                           ops=[("+", encode_voter(v)) for v in sorted(voters, key=lambda v: v.voter_id)],
                           created="2027-04-01T00:00:00+09:00", seed=seed)
    with env.terminal("T01") as t:
        with pytest.raises(RollRejected) as e:
            install_package(t.store, pkg, public_key_of(seed), t.config.election_id)
        assert e.value.code == "roll_other_election"
        assert t.store.conn.execute("SELECT count(*) FROM voters WHERE name LIKE '【テスト】%'").fetchone()[0] == 0


async def test_real_hq_refuses_the_test_journal_over_tls_and_confirms_versions_at_finish(env: Env) -> None:
    t1 = env.terminals["T01"]
    # HQ publishes a real roll and the terminal installs it, as before every election
    csv = env.root / "roll.csv"
    write_roll_file(SynthSettings(voters=40, seed=3), csv)
    import_roll(env.hq, csv, env.clock)
    pkg = publish(env.hq, None, env.clock, full=True)
    store = Store(t1.store_path)
    try:
        install_package(store, pkg.path.read_bytes(), t1.hq_roll_pub.read_bytes(), "sync-test")
    finally:
        store.close()
    await env.start_hq()
    try:
        rehearsal.start(t1, env.clock)
        with rehearsal.open_test_terminal(t1, env.clock) as term:
            term.checkin("0000000001", "c")
            ok, seen = await asyncio.to_thread(sync_round(t1, 20.0), term)
        assert not ok and any(c in seen for c in NOT_STARTED), seen  # HQ not in rehearsal mode: refused
        node = env.node
        assert node is not None and node.ledger.voted_set() == set()
        proof = await asyncio.to_thread(rehearsal.finish, t1, env.clock,
                                        hq_versions=hq_versions(t1, env.clock, 20.0))
        check = next(c for c in proof["checks"] if c["name"] == "名簿・選挙の版が本部と一致")
        assert check["result"] == "PASS", proof
        assert proof["verdict"] == "PASS" and proof["hq"]["contests"] == list(proof["contests"])
        assert str(proof["hq"]["roll"]) == proof["roll_version"] == str(pkg.manifest.version)
    finally:
        await env.stop_hq()


def test_start_then_finish_refuse_clearly_outside_test_mode(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    t1 = env.terminals["T01"]
    rc, out = _cli("terminal", "rehearsal", "finish", str(t1.root), capsys=capsys)
    assert rc != 0 and out["code"] == "not_in_rehearsal"
    rc, out = _cli("terminal", "rehearsal", "run", str(t1.root), capsys=capsys)
    assert rc != 0 and out["code"] == "not_in_rehearsal"
    with pytest.raises(MeiboError):
        rehearsal.open_test_terminal(TerminalDir(t1.root), env.clock)


async def test_with_hq_in_rehearsal_mode_every_step_passes_and_the_real_ledger_stays_empty(
        env: Env, tmp_path: Path) -> None:
    from hq import rehearsal_report

    t1, t2 = env.terminals["T01"], env.terminals["T02"]
    rehearsal_report.start(env.hq, env.clock)
    await env.start_hq()
    try:
        rehearsal.start(t1, env.clock)
        rehearsal.start(t2, env.clock)
        rep = await asyncio.to_thread(rehearsal.run, t1, env.clock, sync=sync_round(t1, 20.0), partner=t2,
                                      detect=detect_double_votes, resolve_at=resolve_at(20.0))
        results = {s.name: (s.result, s.seen) for s in rep.steps}
        assert rep.verdict == "PASS", results  # nothing skipped: HQ's test ledger took part
        assert results["二重投票の阻止（2 投票所、オンライン）"][0] == "PASS"
        assert results["通信の復帰と本部への送信"][0] == "PASS"
        node = env.node
        assert node is not None and node.ledger.voted_set() == set()  # the real ledger saw nothing
        assert render_report(rep.as_dict(), tmp_path / "r.pdf") == 1
    finally:
        await env.stop_hq()


def test_finish_on_a_locked_store_unlocks_for_the_proof_only_and_records_nothing(
        env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from appliance import atrest
    from tests.builders import TEST_PIN, open_station

    t1 = env.terminals["T01"]
    rehearsal.start(t1, env.clock)
    atrest.close_station(t1)  # the real store locked, as a terminal is between days
    rc, out = _cli("terminal", "rehearsal", "finish", str(t1.root), capsys=capsys)
    assert rc != 0 and out["code"] == "station_closed" and rehearsal.active(t1)  # nothing destroyed
    pin = tmp_path / "pin"
    pin.write_text(TEST_PIN, "utf-8")
    rc, proof = _cli("terminal", "rehearsal", "finish", str(t1.root), "--pin-file", str(pin), capsys=capsys)
    assert rc == 0 and proof["verdict"] == "PASS_UNCONFIRMED" and proof["journal_head_seq"] == 0
    assert atrest.unlocked_key(t1) is None and not rehearsal.active(t1)  # locked again, test area gone
    open_station(t1)
    assert _journal_rows(env, "T01") == []  # no 開設 entry: the unlock for the proof recorded nothing


def test_finish_is_refused_while_a_test_terminal_is_open(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    t1 = env.terminals["T01"]
    rehearsal.start(t1, env.clock)
    term = rehearsal.open_test_terminal(t1, env.clock)  # a kiosk in test mode, say
    try:
        rc, out = _cli("terminal", "rehearsal", "finish", str(t1.root), capsys=capsys)
        assert rc != 0 and out["code"] == "rehearsal_in_use"
        assert rehearsal.active(t1) and term.head().seq == 0  # nothing shredded under it
    finally:
        term.close()
    rc, proof = _cli("terminal", "rehearsal", "finish", str(t1.root), capsys=capsys)
    assert rc == 0 and not rehearsal.active(t1)
