"""The roll commands end to end through ``meibo``: import, publish, install-roll, lookup (--json)."""

import json
from pathlib import Path

from ground.barcode import make_barcode
from cli.main import main
from ground.model import BarcodeFormat
from tests.builders_roll import BASE_ROWS, make_pair, write_csv


def _run(capsys, *argv: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    rc = main([*argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    return rc, json.loads(out)


def test_roll_commands(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path, barcode_prefix="14")
    hq, t = str(pair.hq.root), str(pair.terminal.root)
    rc, d = _run(capsys, "roll", "import", hq, str(write_csv(tmp_path / "r.csv", encoding="cp932")),
                 "--now", "2027-04-01T09:00")
    assert rc == 0 and d["code"] == "ok" and d["rows"] == 5
    rc, d = _run(capsys, "roll", "publish", hq, "--out", str(tmp_path / "v1.mbr"), "--now", "2027-04-01T09:00")
    assert rc == 0 and d["version"] == 1 and d["kind"] == "full" and d["created"].startswith("2027-04-01T09:00")
    rc, d = _run(capsys, "terminal", "install-roll", t, str(tmp_path / "v1.mbr"))
    assert rc == 0 and d["version"] == 1 and d["put"] == 5
    rc, d = _run(capsys, "terminal", "install-roll", t, str(tmp_path / "v1.mbr"))
    assert rc != 0 and d["code"] == "roll_rollback"

    code = make_barcode("0000000005", BarcodeFormat(prefix="14"))
    rc, d = _run(capsys, "terminal", "lookup", t, "--barcode", code)
    assert rc == 0 and d["voters"][0]["status"] == "displayed" and d["voters"][0]["display_reason"] == "lost_rights"
    rc, d = _run(capsys, "terminal", "lookup", t, "--barcode", code[:-1] + str((int(code[-1]) + 5) % 10))
    assert rc != 0 and d["code"] == "barcode_check_digit"
    rc, d = _run(capsys, "terminal", "lookup", t, "--kana", "ﾔﾏｻﾞｷ", "--birth", "S50.1.2")
    assert rc == 0 and d["voters"][0]["voter_id"] == "0000000003" and d["voters"][0]["status"] == "deleted"
    rc, d = _run(capsys, "terminal", "lookup", t, "--voter-id", "0000000099")
    assert rc == 1 and d["code"] == "not_found"


def test_import_errors_listed_in_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    rows = [list(r) for r in BASE_ROWS] + [["0000000001", "x", "", "", "", "", ""]]
    rc, d = _run(capsys, "roll", "import", str(pair.hq.root), str(write_csv(tmp_path / "bad.csv", rows)))
    assert rc != 0 and d["code"] == "roll_invalid"
    assert {(p["row"], p["column"]) for p in d["problems"]} >= {(7, "投票区"), (7, "氏名"), (7, "住所")}
    rc, d = _run(capsys, "roll", "publish", str(pair.hq.root), "--out", str(tmp_path / "x.mbr"))
    assert rc != 0 and d["code"] == "roll_not_imported"
