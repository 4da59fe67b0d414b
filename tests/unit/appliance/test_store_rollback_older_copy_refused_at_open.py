"""An older ``store.db`` copied over a closed terminal is refused at open (issue 16 part 3).

Real SQLCipher files in a real terminal directory; the head record lives in the test's own
``MEIBO_HEAD_DIR`` (tests/conftest.py), outside TDIR, as on the appliance."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appliance import journal
from ground.clock import FixedClock
from appliance.dirs import TerminalDir
from ground.errors import MeiboError
from appliance.store import Store
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter

VOTERS = [voter(str(100001 + i)) for i in range(6)]


def _checkin(tdir: TerminalDir, *voter_ids: str) -> int:
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        for v in voter_ids:
            assert t.checkin(v, "c1").recorded
        return t.head().seq


def _snapshot(tdir: TerminalDir, to: Path) -> None:
    """A copy of the closed store's files (``store.db`` alone once the last connection closed)."""
    to.mkdir()
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(tdir.store_path) + suffix)
        if src.exists():
            shutil.copy2(src, to / src.name)


def _restore(tdir: TerminalDir, frm: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(tdir.store_path) + suffix).unlink(missing_ok=True)
    for f in frm.iterdir():
        shutil.copy2(f, tdir.root / f.name)


def test_older_store_copied_over_closed_terminal_is_refused_with_the_code(tmp_path):
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    assert _checkin(tdir, "100001") == 1
    _snapshot(tdir, tmp_path / "old")
    assert _checkin(tdir, "100002", "100003") == 3  # offline check-ins HQ has not heard of yet
    _restore(tdir, tmp_path / "old")

    # the copied store is a sound, shorter chain: nothing inside it says it is old
    s = Store(tdir.store_path)
    try:
        assert journal.verify(s, "yokohama-2027", "T01").ok and journal.head(s).seq == 1
    finally:
        s.close()

    with pytest.raises(MeiboError) as ei:
        Terminal.open(tdir, FixedClock(EARLY_NOON))
    e = ei.value
    assert e.code == "store_rolled_back"
    assert e.details["recorded_seq"] == 3 and e.details["store_seq"] == 1
    assert "端末の記録が巻き戻っています（記録 3 番まであったはずが 1 番まで）" in e.message
    assert "受付を止め、本部に連絡してください" in e.message
    # refused every time, not just once: the record was not lowered to the copy
    with pytest.raises(MeiboError) as again:
        Terminal.open(tdir, FixedClock(EARLY_NOON))
    assert again.value.code == "store_rolled_back"


def test_older_copy_restored_to_another_directory_is_refused_too(tmp_path):
    """The record is named by the store, not the path: moving the old copy elsewhere does not help."""
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    _checkin(tdir, "100001")
    shutil.copytree(tdir.root, tmp_path / "old-T01")
    _checkin(tdir, "100002")
    with pytest.raises(MeiboError) as ei:
        Terminal.open(TerminalDir(tmp_path / "old-T01"), FixedClock(EARLY_NOON))
    assert ei.value.code == "store_rolled_back"
    assert ei.value.details["recorded_seq"] == 2 and ei.value.details["store_seq"] == 1


def test_rolled_back_then_written_on_is_refused_as_replaced(tmp_path):
    """An old copy that then got new entries (by a tool that skips the check) reaches the recorded
    seq again, with other contents: the chain hash at that seq differs."""
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    _checkin(tdir, "100001")
    _snapshot(tdir, tmp_path / "old")
    assert _checkin(tdir, "100002", "100003") == 3
    _restore(tdir, tmp_path / "old")
    from ground.events import EventKind
    from ground.hlc import HybridClock

    s = Store(tdir.store_path)  # no Terminal: no head check, no record update
    try:
        clock = HybridClock(FixedClock(EARLY_NOON), journal.head(s).hlc)
        for _ in range(3):
            with s.atomic() as conn:
                journal.append(s, conn, EventKind.STATION, {"action": "open"}, clock)
        assert journal.head(s).seq == 4
    finally:
        s.close()
    with pytest.raises(MeiboError) as ei:
        Terminal.open(tdir, FixedClock(EARLY_NOON))
    assert ei.value.code == "store_rolled_back"
    assert "記録 3 番の内容が以前と違います" in ei.value.message


def test_verify_json_reports_store_rolled_back(tmp_path, capsys):
    from cli.main import main

    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    _checkin(tdir, "100001")
    _snapshot(tdir, tmp_path / "old")
    _checkin(tdir, "100002")
    assert main(["terminal", "verify", str(tdir.root), "--json"]) == 0
    capsys.readouterr()
    _restore(tdir, tmp_path / "old")
    assert main(["terminal", "verify", str(tdir.root), "--json"]) == 1
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["code"] == "store_rolled_back"
    assert out["details"]["recorded_seq"] == 2 and out["details"]["store_seq"] == 1


def test_cli_shows_the_rollback_in_red_on_a_terminal(tmp_path, monkeypatch):
    import io
    import sys

    from cli.main import main

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    _checkin(tdir, "100001")
    _snapshot(tdir, tmp_path / "old")
    _checkin(tdir, "100002")
    _restore(tdir, tmp_path / "old")
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["terminal", "verify", str(tdir.root)]) == 1
    assert err.getvalue().startswith("\033[1;31mエラー: 端末の記録が巻き戻っています（記録 2 番まであったはずが 1 番まで）")


def test_terminal_run_and_sync_refuse_before_touching_the_network(tmp_path):
    """The sync agent never starts on a rolled-back store, so it cannot report it as in sync."""
    import json
    import subprocess

    meibo = str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "meibo")
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    _checkin(tdir, "100001")
    _snapshot(tdir, tmp_path / "old")
    _checkin(tdir, "100002")
    _restore(tdir, tmp_path / "old")
    for cmd in (["terminal", "run", str(tdir.root), "--hq", "127.0.0.1:9"],
                ["terminal", "sync", str(tdir.root), "--hq", "127.0.0.1:9", "--timeout", "1"]):
        p = subprocess.run([meibo, *cmd, "--json"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 1, p.stderr
        assert json.loads(p.stdout)["code"] == "store_rolled_back"
