"""`meibo terminal wipe`: the wipe record is evidence for the election office. It lists as
destroyed only files verified gone afterwards; a file that could not be shredded makes the wipe a
refusal (wipe_incomplete, the file named in Japanese) and the record says what was not destroyed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import atrest
from appliance.dirs import TerminalDir
from tests.security_helpers import meibo
from tests.unit.appliance.test_wipe_only_after_hq_ack_or_verified_export import NOW, set_acked, station


@pytest.fixture(autouse=True)
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "shm"
    monkeypatch.setenv(atrest.RUNTIME_ENV, str(base))
    return base


def _acked_station(root: Path) -> TerminalDir:
    t = station(root)
    set_acked(t, 3)
    return t


def test_tls_key_in_read_only_folder_is_refused_and_recorded_not_destroyed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = _acked_station(tmp_path / "t")
    stuck = t.tls / "client.key"
    real_unlink = os.unlink

    def unlink(path: str | os.PathLike[str], *a: object, **k: object) -> None:
        if Path(path) == stuck:  # root ignores a read-only folder: what EACCES / EROFS does to others
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, *a, **k)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "unlink", unlink)
    rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--now", NOW)
    assert rc == 1 and out["code"] == "wipe_incomplete"
    assert str(stuck) in out["message"] and "消去できませんでした" in out["message"]
    assert stuck.exists()
    record = json.loads((t.root / "wipe-record.json").read_text("utf-8"))
    assert str(stuck) not in record["destroyed"] and record["complete"] is False
    assert [n["file"] for n in record["not_destroyed"]] == [str(stuck)]
    assert "Permission denied" in record["not_destroyed"][0]["error"]
    for gone in (t.store_path, atrest.sealed_path(t), t.device_key):  # the rest was still destroyed
        assert not gone.exists() and str(gone) in record["destroyed"]


def _immovable(path: Path) -> "contextlib.AbstractContextManager[None]":
    """A file the wipe really cannot remove, for root too: the immutable attribute (chattr +i),
    which root's unlink also obeys; a read-only folder for anyone else."""
    @contextlib.contextmanager
    def held() -> Iterator[None]:
        if os.geteuid() == 0:
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
                pytest.skip("this file system has no immutable attribute")
            try:
                yield
            finally:
                subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            os.chmod(path.parent, 0o555)
            try:
                yield
            finally:
                os.chmod(path.parent, 0o755)
    return held()


def test_file_the_disk_will_not_remove_stays_and_the_record_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = _acked_station(tmp_path / "t")
    stuck = t.tls / "client.key"
    with _immovable(stuck):
        rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--now", NOW)
        assert stuck.exists()
    assert rc == 1 and out["code"] == "wipe_incomplete" and str(stuck) in out["message"]
    record = json.loads((t.root / "wipe-record.json").read_text("utf-8"))
    assert str(stuck) not in record["destroyed"] and record["complete"] is False
    assert str(stuck) in [n["file"] for n in record["not_destroyed"]]


def test_overwrite_failure_is_not_silently_called_a_shred(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = _acked_station(tmp_path / "t")
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == str(t.device_key):
            raise OSError(5, "Input/output error")
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--now", NOW)
    assert rc == 1 and out["code"] == "wipe_incomplete" and str(t.device_key) in out["message"]
    record = json.loads((t.root / "wipe-record.json").read_text("utf-8"))
    assert [n["file"] for n in record["not_overwritten"]] == [str(t.device_key)]
    assert not t.device_key.exists() and str(t.device_key) in record["destroyed"]  # gone, but not overwritten


def test_clean_wipe_record_is_complete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = _acked_station(tmp_path / "t")
    rc, out = meibo(monkeypatch, capsys, "terminal", "wipe", str(t.root), "--now", NOW)
    assert rc == 0 and out["complete"] is True and out["not_destroyed"] == [] and out["not_overwritten"] == []
    assert all(not Path(p).exists() for p in out["destroyed"])
