"""``meibo hq rehearsal …`` with HQ not serving: --json answers with stable codes, Japanese for
people, and a refusal changes nothing (start twice, an unknown terminal, report/finish with the
switch off); a whole start → status → finish round leaves HQDIR as it was but for the proof."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from hq.rehearsal import area
from tests.integration.rehearsal_env import table_rows
from tests.integration.sync_env import make_env


def _run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv) + ["--json"])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    return code, json.loads(out)


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def hq(tmp_path):
    return make_env(tmp_path, {"T01": "E01"}).hq


def test_refusals_change_nothing(hq, capsys):
    before = _files(hq.root)
    for argv, code in ((["report"], "rehearsal_not_on"), (["finish"], "rehearsal_not_on"),
                       (["start", "--terminal", "T99"], "rehearsal_terminal_unknown")):
        status, out = _run(capsys, "hq", "rehearsal", argv[0], str(hq.root), *argv[1:])
        assert status != 0 and out["code"] == code and out["message"]
        assert _files(hq.root) == before
    main(["hq", "rehearsal", "report", str(hq.root)])
    assert "リハーサルは開始されていません" in capsys.readouterr().err
    status, out = _run(capsys, "hq", "rehearsal", "status", str(hq.root))
    assert status == 0 and out == {"status": "ok", "code": "rehearsal_off", "on": False}


def test_start_status_finish_round(hq, capsys, tmp_path):
    assert not hq.hq_db.exists()  # HQ never served: the rehearsal does not make the real store
    status, out = _run(capsys, "hq", "rehearsal", "start", str(hq.root), "--terminal", "T01")
    assert status == 0 and out["code"] == "rehearsal_started" and out["terminals"] == ["T01"]
    during = _files(hq.root)
    status, out = _run(capsys, "hq", "rehearsal", "start", str(hq.root))
    assert status != 0 and out["code"] == "rehearsal_already_on" and _files(hq.root) == during
    status, out = _run(capsys, "hq", "rehearsal", "status", str(hq.root))
    assert out["on"] and out["stations_refusing_real_checkins"] == ["E01"] and out["test_checkins"] == 0
    main(["hq", "rehearsal", "status", str(hq.root)])
    assert "【試験】リハーサル中" in capsys.readouterr().out
    status, out = _run(capsys, "hq", "rehearsal", "report", str(hq.root))
    assert status == 1 and not out["passed"]  # nothing was rehearsed: every step FAIL, said so
    assert {s["result"] for s in out["steps"]} == {"FAIL"}
    status, out = _run(capsys, "hq", "rehearsal", "finish", str(hq.root))
    assert status == 0 and out["zero"] and out["real_records_from_test_ledger"] == 0
    assert not area(hq).exists() and not hq.hq_db.exists()


def test_finish_reads_an_existing_real_store_and_changes_no_row(hq, capsys):
    from hq.store import HqStore
    HqStore(hq).close()  # hq.db as a served HQ leaves it
    real = table_rows(hq.hq_db)
    assert _run(capsys, "hq", "rehearsal", "start", str(hq.root))[1]["code"] == "rehearsal_started"
    status, out = _run(capsys, "hq", "rehearsal", "finish", str(hq.root))
    assert status == 0 and out["zero"] and table_rows(hq.hq_db) == real
