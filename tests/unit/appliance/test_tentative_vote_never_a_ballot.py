"""仮投票 (公職選挙法50条): recorded as a ``tentative`` entry with voter (identified or declared),
reason, who decided, clerk and contests; never a check-in, never a ballot at HQ."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from appliance import procedures as P
from cli.main import main
from ground.clock import FixedClock
from ground.errors import NotFound
from ground.events import EventKind
from appliance.terminal import Terminal
from hq.ledger import Ledger
from tests.builders import ELECTION_NOON, terminal_dir, voter


def _term(tmp_path: Path, station: str = "D01") -> Terminal:
    tdir = terminal_dir(tmp_path / "t", [voter("100001"), voter("100002", name="佐藤 花子")], station=station)
    return Terminal(tdir, FixedClock(ELECTION_NOON))


def test_hard_stop_then_tentative_is_recorded_apart(tmp_path: Path) -> None:
    with _term(tmp_path) as t:
        first = t.checkin("100001", "c1")
        assert first.recorded
        again = t.checkin("100001", "c1")
        assert not again.recorded and again.decision.code.value == "already_voted"
        voted_before = t.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0]
        rec = P.record_tentative(t, voter_id="100001", contests=["shu", "governor"], reason="投票済の申立て",
                                 decided_by="投票管理者 鈴木", clerk="c1")
        assert rec.reason is P.TentativeReason.CLAIMS_NOT_VOTED and rec.voter == "100001"
        assert "仮投票を記録しました" in rec.text(t.config) and "通常の受付ではありません" in rec.text(t.config)
        ev = t.store.conn.execute("SELECT kind, body FROM journal WHERE seq=?", (rec.seq,)).fetchone()
        assert ev[0] == "tentative"
        data = json.loads(ev[1])["d"]
        assert data == {"station": "D01", "contests": ["shu", "governor"], "reason": "claims_not_voted",
                        "decided_by": "投票管理者 鈴木", "clerk": "c1", "voter": "100001"}
        assert t.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0] == voted_before
        events = [e for e in P.journal_events(t.store)]
    # at HQ: kept for reports, never a ballot, no alert
    led = Ledger(t.config.election_id)
    led.register(str(t.terminal_id), "D01", b"")
    for e in events:
        led.apply(e)
    assert led.ballot_count("100001", "shu") == 1 and not led.alerts
    assert [e.kind for e in led.other_events if e.kind is EventKind.TENTATIVE] == [EventKind.TENTATIVE]


def test_declared_voter_not_on_roll(tmp_path: Path) -> None:
    with _term(tmp_path) as t:
        with pytest.raises(NotFound):
            P.record_tentative(t, voter_id="999999", contests=["shu"], reason="witness_objection",
                               decided_by="立会人 田中", clerk="c1")
        rec = P.record_tentative(t, declared=P.Declared("高橋 一郎", date(1980, 1, 2)), contests=["shu"],
                                 reason="立会人異議", decided_by="立会人 田中", clerk="c1")
        assert rec.voter == P.DECLARED_VOTER
        body = json.loads(t.store.conn.execute("SELECT body FROM journal WHERE seq=?", (rec.seq,)).fetchone()[0])
        assert body["d"]["declared_name"] == "高橋 一郎" and body["d"]["declared_birth"] == "1980-01-02"
        assert "申立てによる選挙人 高橋 一郎" in rec.text(t.config)


@pytest.mark.parametrize("kw, code", [
    ({"reason": "気分"}, "tentative_invalid"),
    ({"contests": []}, "tentative_invalid"),
    ({"contests": ["nope"]}, "tentative_invalid"),
    ({"decided_by": " "}, "usage"),
    ({"voter_id": None}, "tentative_invalid"),
])
def test_bad_input_changes_nothing(tmp_path: Path, kw: dict, code: str) -> None:
    base = dict(voter_id="100002", contests=["shu"], reason="supervisor_refusal", decided_by="管理者", clerk="c1")
    base.update(kw)
    with _term(tmp_path) as t:
        head = t.head().seq
        with pytest.raises(P.ProcedureError if code != "usage" else Exception) as ei:
            P.record_tentative(t, **base)
        assert getattr(ei.value, "code", None) == code
        assert t.head().seq == head


def test_cli_tentative_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tdir = terminal_dir(tmp_path / "t", [voter("100001")], station="D01")
    rc = main(["terminal", "tentative", str(tdir.root), "--voter", "100001", "--reason", "supervisor_refusal",
               "--decided-by", "投票管理者", "--contest", "shu", "--now", ELECTION_NOON.isoformat(), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["code"] == "ok" and out["kind"] == "tentative" and out["contests"] == ["shu"]
    rc = main(["terminal", "tentative", str(tdir.root), "--voter", "100001", "--reason", "x",
               "--decided-by", "投票管理者", "--now", ELECTION_NOON.isoformat(), "--json"])
    assert rc != 0 and json.loads(capsys.readouterr().out)["code"] == "tentative_invalid"
