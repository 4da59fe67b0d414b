"""不在者投票 status at HQ (requested → issued → received → 受理/不受理; illegal moves refused and
nothing written; 受理 records the ballot), the warning a terminal shows, and the ``hq reports`` and
``hq absentee-status`` commands over real hq.db / roll.db files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from appliance import procedures as P
from cli.main import main
from hq import procedures as H
from hq.store import HqStore
from tests.builders import election_config, terminal_dir, voter
from tests.unit.sync_protocol.hq_day_dir import hq_with_day


def test_state_table_and_illegal_moves() -> None:
    assert H.next_absentee_state(None, "requested") == "requested"
    assert H.next_absentee_state("issued", "received") == "received"
    for cur, wanted in ((None, "accepted"), ("requested", "received"), ("accepted", "rejected"), ("rejected", "issued")):
        with pytest.raises(H.AbsenteeMoveRefused) as ei:
            H.next_absentee_state(cur, wanted)
        assert "にはできません" in ei.value.message and ei.value.code == "absentee_transition_invalid"
    with pytest.raises(H.AbsenteeMoveRefused) as ev:
        H.next_absentee_state("received", "accepted", already_voted_at="本町小学校 04月25日 10:00")
    assert ev.value.code == "already_voted" and "不受理にしてください" in ev.value.message


def test_cli_flow_accepted_records_the_ballot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hq, _ = hq_with_day(tmp_path)
    base = ["hq", "absentee-status", str(hq.root), "30", "--contest", "shu", "--who", "選管 山本",
            "--now", "2027-04-18T10:00", "--json"]
    for state in ("requested", "issued"):
        assert main(base + ["--state", state]) == 0
    capsys.readouterr()
    assert main(base + ["--state", "accepted"]) != 0  # not yet received: refused, nothing written
    assert json.loads(capsys.readouterr().out)["code"] == "absentee_transition_invalid"
    assert main(base + ["--state", "received"]) == 0
    assert main(base + ["--state", "accepted"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["state"] == "accepted" and out["record_ballot"] is True
    store = HqStore(hq)
    try:
        ledger = store.load()
        assert ledger.holder("30", "shu") is not None and ledger.holder("30", "shu").station == "HQ"
        cur = H.absentee_current(store)
        assert cur[("30", "shu")]["state"] == "accepted" and len(H.absentee_notices(cur)) == 1
        n = store.store.conn.execute("SELECT count(*) FROM absentee_status").fetchone()[0]
        assert n == 4
    finally:
        store.close()
    # a voter who already voted at a station: the envelope can only be 不受理
    b2 = ["hq", "absentee-status", str(hq.root), "4", "--contest", "shu", "--who", "選管", "--json"]
    for state in ("issued", "received"):
        assert main(b2 + ["--state", state]) == 0
    capsys.readouterr()
    assert main(b2 + ["--state", "accepted"]) != 0
    assert json.loads(capsys.readouterr().out)["code"] == "already_voted"
    assert main(b2 + ["--state", "rejected"]) == 0


def test_terminal_warns_never_blocks(tmp_path: Path) -> None:
    cfg = election_config()
    from ground.clock import FixedClock
    from appliance.terminal import Terminal
    from tests.builders import ELECTION_NOON

    tdir = terminal_dir(tmp_path / "t", [voter("100001")], station="D01")
    with Terminal(tdir, FixedClock(ELECTION_NOON)) as t:
        assert P.absentee_warning(t.store, cfg, "100001") is None
        P.apply_absentee_notice(t.store, "100001", "governor", "issued", 10)
        P.apply_absentee_notice(t.store, "100001", "shu", "requested", 11)
        P.apply_absentee_notice(t.store, "100001", "shu", "rejected", 5)  # older notice: ignored
        w = P.absentee_warning(t.store, cfg, "100001")
        assert w is not None and w.contests == (("shu", "requested"), ("governor", "issued"))
        assert "未使用の不在者投票用紙・封筒を返還" in w.text and "不受理となります" in w.text
        assert "受付はできます" in w.text
        assert t.checkin("100001", "c1").recorded  # warned, not blocked
        P.apply_absentee_notice(t.store, "100001", "shu", "returned", 20)
        P.apply_absentee_notice(t.store, "100001", "governor", "returned", 20)
        assert P.absentee_warning(t.store, cfg, "100001") is None


def test_cli_reports_csv_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hq, _ = hq_with_day(tmp_path)
    out = tmp_path / "tohyoroku.csv"
    assert main(["hq", "reports", str(hq.root), "--what", "tohyoroku", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["flagged"] == 1 and res["rows"] == 20
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    d01 = next(r for r in rows if r["投票所ID"] == "D01" and r["選挙"] == "shu")
    assert (d01["投票者数 普通"], d01["仮投票"], d01["投票用紙 残数"], d01["要確認"]) == ("8", "1", "91", "はい")
    assert main(["hq", "reports", str(hq.root), "--what", "hourly", "--format", "json", "--hours", "10,14",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    d1f = next(r for r in res["table"] if r["district"] == 1 and r["sex"] == "女")
    assert (d1f["at_10"], d1f["at_14"], d1f["total"]) == (1, 4, 5)
    assert main(["hq", "reports", str(hq.root), "--what", "age", "--hours", "x", "--json"]) != 0
