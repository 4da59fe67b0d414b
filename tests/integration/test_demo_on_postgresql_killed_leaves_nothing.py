"""``meibo demo --store postgresql`` SIGKILLed once its day is under way (what pytest-timeout did
to it): its HQ nodes and sync agents die with it (tooling/lifeline.py's parent-death signal) and
the watchdog of its PostgreSQL base stops the primary and the standby and removes the base.
Every PID is polled until gone, with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tooling.pgcluster import _alive

MEIBO = str(Path(sys.executable).parent / "meibo")
ENV = {**{k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}, "PYTHONUNBUFFERED": "1"}
STARTED = "同期エージェントを起動"  # the demo's line once HQ nodes and agents run
DEADLINE_S = 60.0


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _watchdog_base(owner: int) -> tuple[int, Path]:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"tooling.lifeline" in argv and argv[argv.index(b"tooling.lifeline") + 1] == str(owner).encode():
                return int(d.name), Path(argv[argv.index(b"tooling.lifeline") + 2].decode())
    raise AssertionError(f"no watchdog for {owner}")


def _postmasters(base: Path) -> list[int]:
    return [int(f.read_text().split("\n", 1)[0]) for f in base.glob("*/data/postmaster.pid")]


def _until(what: str, cond: object) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: still there after {DEADLINE_S:.0f} s"
        time.sleep(0.05)


@pytest.mark.slow  # a demo's set-up (roll, enrollment, two PostgreSQL servers): ~1 min here
def test_killed_pg_demo_leaves_no_process_and_no_base(tmp_path: Path) -> None:
    demo = subprocess.Popen([MEIBO, "demo", "--store", "postgresql", "--voters", "3000", "--checkins", "300",
                             "--hours", "9", "--speed", "60", "--dir", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=ENV)
    assert demo.stdout is not None
    said = []
    try:
        for raw in demo.stdout:
            said.append(raw.decode(errors="replace"))
            if STARTED in said[-1]:
                break
        assert said and STARTED in said[-1], "".join(said[-20:])
        children = [c for c in _children(demo.pid) if _alive(c)]
        watchdog, base = _watchdog_base(demo.pid)
        postmasters = _postmasters(base)
        assert len(children) >= 3 and len(postmasters) == 2, (children, postmasters)
    finally:
        demo.send_signal(signal.SIGKILL)
        demo.wait()
    for pid in children:
        _until(f"demo child {pid}", lambda pid=pid: not _alive(pid))
    for pid in postmasters:
        _until(f"postmaster {pid}", lambda pid=pid: not _alive(pid))
    _until(f"base {base}", lambda: not base.exists())
    _until(f"watchdog {watchdog}", lambda: not _alive(watchdog))
