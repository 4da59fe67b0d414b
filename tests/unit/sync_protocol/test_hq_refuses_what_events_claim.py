"""HQ trusts the certificate, not what a check-in says (issue 16, attack pass: "HQ trusts what
events say"). A C03 terminal recording check-ins "at C01", a contest that is not in
election.toml and a voter who is not on the published roll never become ballots or voted flags:
each is a ``Refusal`` with a stable code in HQ's report, and the terminal's chain goes on (the
refused event is acknowledged, the next check-in counts, no alarm, no REFUSED)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from nacl.signing import SigningKey

from ground.clock import FixedClock
from appliance.dirs import HqDir
from ground.events import Event, EventKind, genesis_hash
from hq.roll import open_roll_db
from ground.model import TerminalId
from hq import ops as hq_ops
from sync_protocol.codec import decode as decode_frame
from sync_protocol.codec import encode as encode_frame
from hq.store import HqStore
from sync_protocol.session import ALL_CONTESTS, LinkState, TerminalLink, outcome_for
from hq.session import HqSession
from tests.builders import EARLY_NOON, election_toml
from tests.unit.sync_protocol.pure_harness import MemTerminal, hq_for, sync


def _verdict_seqs(acts: list) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for a in acts:
        for v in a.verdicts:
            out.setdefault(v.seq, set()).add(v.contest)
    return out


def test_c03_terminal_claiming_c01_is_refused_never_recorded_at_c01_and_chain_goes_on():
    c03 = MemTerminal("T03", "C03", key=SigningKey(b"\x03" * 32))
    c01 = MemTerminal("T01", "C01", key=SigningKey(b"\x01" * 32))
    led = hq_for(c03, c01)
    c03.append(EventKind.CHECKIN, {"station": "C01", "clerk": "c1", "voter": "V1", "contests": ["gov"]})
    c03.checkin("V2", ["gov"])  # an honest one after it

    acts = sync(c03, led)

    assert not any(a.refused or a.hq_mismatch for a in acts)
    assert c03.link.acked_seq == 2 and led.terminals["T03"].acked_seq == 2 and not led.alarms
    assert ("V1", "gov") not in led.ballots and ("T03", 1) not in led.checkins
    assert led.holder("V2", "gov").station == "C03"
    assert all(f.station != "C01" for f in led.flags)
    verdicts = _verdict_seqs(acts)
    assert 1 not in verdicts and verdicts[2] == {ALL_CONTESTS}  # seq 1: no verdict, provisional
    [r] = led.refusals
    assert (r.terminal, r.seq, r.code, r.voter, r.claimed_station, r.registered_station) == \
        ("T03", 1, "station_mismatch", "V1", "C01", "C03")
    assert "C03" in r.message() and "C01" in r.message()

    # the other station hears nothing of "V1 voted at C01"
    sync(c01, led)
    assert ("V1", "gov") not in c01.flags and ("V2", "gov") in c01.flags
    # a withheld/void marker naming the refused check-in finds nothing to change
    c03.append(EventKind.VOID, {"ref": 1, "reason": "人違い", "clerk": "c1"})
    sync(c03, led)
    assert led.terminals["T03"].acked_seq == 3 and len(led.refusals) == 1 and ("V2", "gov") in led.ballots


def test_contest_not_in_election_is_refused_and_the_real_contests_still_count():
    t = MemTerminal("T01", "C01")
    led = hq_for(t)
    led.contests = frozenset({"gov", "mayor"})
    t.checkin("V1", ["gov", "bogus"])
    t.checkin("V1", ["bogus"])  # only an unknown contest: no check-in at all

    acts = sync(t, led)

    assert not any(a.refused for a in acts) and led.terminals["T01"].acked_seq == 2
    assert set(led.ballots) == {("V1", "gov")} and not led.alerts
    assert [(f.voter, f.contest) for f in led.flags] == [("V1", "gov")]
    assert [(r.seq, r.code, r.contests) for r in led.refusals] == \
        [(1, "contest_unknown", ("bogus",)), (2, "contest_unknown", ("bogus",))]
    # the terminal hears "gov" accepted and nothing of "bogus": the check-in is provisional
    verdicts = [v for a in acts for v in a.verdicts]
    assert {(v.seq, v.contest) for v in verdicts} == {(1, "gov")}
    assert outcome_for(["gov", "bogus"], [v for v in verdicts if v.seq == 1]) == ([], True)


def test_voter_not_on_roll_is_kept_as_evidence_never_a_ballot_or_flag():
    t = MemTerminal("T01", "C01")
    led = hq_for(t)
    led.roll = {"V1"}
    t.checkin("GHOST", ["gov"])
    t.checkin("V1", ["gov"])

    acts = sync(t, led)

    assert not any(a.refused for a in acts) and led.terminals["T01"].acked_seq == 2
    assert set(led.ballots) == {("V1", "gov")} and [f.voter for f in led.flags] == ["V1"]
    [r] = led.refusals
    assert (r.seq, r.code, r.voter, r.contests) == (1, "voter_unknown", "GHOST", ("gov",))


# --- at HQ: election.toml's contests, the published roll, the report, a restart -----------------

ELECTION = "screen-test"
HLC0 = 1_807_000_000_000 << 16


def _hq(tmp: Path) -> HqDir:
    from hq.terminals import hq_init

    cfg = tmp / "election.toml"
    cfg.write_text(election_toml(election_id=ELECTION, contests=[
        {"id": c, "name": c, "level": "municipal"} for c in ("gov", "mayor")]), "utf-8")
    hq_init(tmp / "hq", cfg, FixedClock(EARLY_NOON))
    hq = HqDir(tmp / "hq")
    reg = [{"terminal": "T03", "station": "C03", "device_pub": bytes(SigningKey(b"\x03" * 32).verify_key).hex(),
            "tls_serials": []}]
    (hq.root / "terminals.json").write_text(json.dumps(reg), "utf-8")
    rs = open_roll_db(hq)  # a published roll of V1..V5 (and the 在外 voter Z:0001)
    try:
        with rs.atomic() as c:
            c.executemany("INSERT INTO published VALUES (?, ?)", [(f"V{i}", "") for i in range(1, 6)])
            c.execute("INSERT INTO zaigai VALUES ('0001','c1','n','k','1980-01-01','F','a','US','registered')")
            c.execute("INSERT INTO versions VALUES (1, 'full', NULL, 5, '', '', '')")
    finally:
        rs.close()
    return hq


def test_hq_checks_election_contests_and_published_roll_and_a_restart_rebuilds_the_same(tmp_path: Path):
    hq = _hq(tmp_path)
    store = HqStore(hq)
    led = store.load()
    sess = HqSession(led, "T03")
    sess.state = sess.state.READY
    link = TerminalLink(ELECTION, "T03", "C03", SigningKey(b"\x03" * 32))
    link.state = LinkState.READY
    bodies = [{"station": "C01", "clerk": "c", "voter": "V1", "contests": ["gov"]},
              {"station": "C03", "clerk": "c", "voter": "V2", "contests": ["gov", "senate"]},
              {"station": "C03", "clerk": "c", "voter": "NOBODY", "contests": ["mayor"]},
              {"station": "C03", "clerk": "c", "voter": "Z:0001", "contests": ["gov"]},
              {"station": "C03", "clerk": "c", "voter": "V3", "contests": ["gov", "mayor"]}]
    events = [Event(EventKind.CHECKIN, i, HLC0 + i, TerminalId("T03"), b) for i, b in enumerate(bodies, 1)]
    f = link.batch(events, genesis_hash(ELECTION, "T03"))
    res = sess.receive(decode_frame(encode_frame(f)))
    assert not res.close
    led.apply_all(res.to_commit)
    store.commit(res.to_commit, refusals=led.refusals_for(res.to_commit))
    ack = sess.ack_frame(res.pending_ack)
    assert ack.header["acked_seq"] == 5 and ack.header["ok"] == [[4, 5]]
    assert ack.header["v"] == [[2, "gov", "A"]]  # not "senate": the terminal takes it as provisional

    assert set(led.ballots) == {("V2", "gov"), ("Z:0001", "gov"), ("V3", "gov"), ("V3", "mayor")}
    codes = [(r.seq, r.code) for r in led.refusals]
    assert codes == [(1, "station_mismatch"), (2, "contest_unknown"), (3, "voter_unknown")]
    rep = hq_ops.report(store, led)
    assert [x["code"] for x in rep["refusals"]] == ["station_mismatch", "contest_unknown", "voter_unknown"]
    text = hq_ops.report_text(rep)
    assert "station_mismatch" in text and "受け付けなかった記録" in text

    flags = list(led.flags)
    store.close()
    store2 = HqStore(hq)
    try:
        again = store2.load()
        assert again.refusals == led.refusals and list(again.flags) == flags and again.ballots == led.ballots
    finally:
        store2.close()


def test_screening_is_the_same_one_event_at_a_time_and_all_at_once():
    rng = random.Random(7)
    t = MemTerminal("T01", "C01")
    for _ in range(60):
        t.append(EventKind.CHECKIN, {"station": rng.choice(["C01", "C01", "C02"]), "clerk": "c",
                                     "voter": rng.choice(["V1", "V2", "X"]),
                                     "contests": rng.sample(["gov", "mayor", "bogus"], rng.randint(1, 2))})
    one, many = hq_for(t), hq_for(t)
    for led in (one, many):
        led.contests, led.roll = frozenset({"gov", "mayor"}), {"V1", "V2"}
    for ev in t.journal:
        one.apply(ev)
    many.apply_all(t.journal)
    assert one.refusals == many.refusals and list(one.flags) == list(many.flags) and one.ballots == many.ballots
    assert {r.code for r in one.refusals} == {"station_mismatch", "contest_unknown", "voter_unknown"}


def test_sneakernet_journal_claiming_another_station_is_imported_but_not_counted(tmp_path: Path):
    import struct

    from ground.events import canonical_json
    from sync_protocol.journal_file import MAGIC

    c03 = MemTerminal("T03", "C03", key=SigningKey(b"\x03" * 32))
    led = hq_for(c03)
    c03.append(EventKind.CHECKIN, {"station": "C01", "clerk": "c1", "voter": "V1", "contests": ["gov"]})
    c03.checkin("V2", ["gov"])
    link = TerminalLink(c03.link.election, "T03", "C01", c03.key)  # the file's header may lie too
    link.state = LinkState.READY
    data = encode_frame(link.batch(c03.journal, genesis_hash(c03.link.election, "T03")))
    path = tmp_path / "t03.mbj"
    path.write_bytes(MAGIC + canonical_json({"election": c03.link.election, "terminal": "T03", "station": "C01"})
                     + b"\n" + struct.pack(">I", len(data)) + data)

    out, events = hq_ops.import_journal(led, path, lambda al: None)

    assert out["applied"] == 2 and out["acked_seq"] == 2 and len(events) == 2
    assert [(r["seq"], r["code"]) for r in out["refused"]] == [(1, "station_mismatch")]
    assert set(led.ballots) == {("V2", "gov")} and led.holder("V2", "gov").station == "C03"


def test_a_roll_republished_after_ingest_changes_no_verdict_on_restart(tmp_path: Path):
    """Verdicts are fixed at first ingest: HQ stores its refusals with the events, and a replay
    reuses them instead of asking the roll again. A later roll (V2 removed — a voter who died
    after voting early — and NOBODY added) must not turn V2's ballot into a refusal, nor
    NOBODY's refused check-in into a ballot, when HQ restarts."""
    hq = _hq(tmp_path)
    store = HqStore(hq)
    led = store.load()
    sess = HqSession(led, "T03")
    sess.state = sess.state.READY
    link = TerminalLink(ELECTION, "T03", "C03", SigningKey(b"\x03" * 32))
    link.state = LinkState.READY
    bodies = [{"station": "C03", "clerk": "c", "voter": "V2", "contests": ["gov"]},
              {"station": "C03", "clerk": "c", "voter": "NOBODY", "contests": ["gov"]}]
    events = [Event(EventKind.CHECKIN, i, HLC0 + i, TerminalId("T03"), b) for i, b in enumerate(bodies, 1)]
    res = sess.receive(decode_frame(encode_frame(link.batch(events, genesis_hash(ELECTION, "T03")))))
    led.apply_all(res.to_commit)
    store.commit(res.to_commit, refusals=led.refusals_for(res.to_commit))
    store.close()
    assert set(led.ballots) == {("V2", "gov")} and [r.voter for r in led.refusals] == ["NOBODY"]

    rs = open_roll_db(hq)  # the next roll version: V2 gone, NOBODY added
    try:
        with rs.atomic() as c:
            c.execute("DELETE FROM published WHERE voter_id='V2'")
            c.execute("INSERT INTO published VALUES ('NOBODY', '')")
    finally:
        rs.close()
    store2 = HqStore(hq)
    try:
        again = store2.load()
        assert set(again.ballots) == {("V2", "gov")} and again.refusals == led.refusals
        assert [f.voter for f in again.flags] == ["V2"]
        # and a new check-in is screened against the roll as it is now
        assert "NOBODY" in again.roll and "V2" not in again.roll
    finally:
        store2.close()
