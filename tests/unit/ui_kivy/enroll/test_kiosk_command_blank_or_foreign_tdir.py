"""``meibo kiosk TDIR`` no longer refuses an unenrolled TDIR (it starts at the enrollment screen), but
it still refuses, before any window opens, a directory that is neither enrolled nor empty (it would
never overwrite it) and a malformed --enroll-hq."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main as cli


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, json.loads(out.out or out.err)


def test_non_empty_unenrolled_dir_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("x", "utf-8")
    status, body = run(["kiosk", str(tmp_path), "--json"], capsys)
    assert status != 0 and body["code"] == "dir_not_empty"
    assert "登録済みでも空でもありません" in str(body["message"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_malformed_enroll_hq_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, body = run(["kiosk", str(tmp_path / "T01"), "--enroll-hq", "hq.example", "--json"], capsys)
    assert status != 0 and body["code"] == "address_invalid"
    assert not (tmp_path / "T01").exists()
