"""A demo-like owner SIGKILLed (as pytest-timeout kills ``meibo demo``) leaves nothing running:
its HQ node and sync agent (started as the demo starts them, tooling/lifeline.py's ``popen``) die
with it, and the PostgreSQL server it started through tooling/pgcluster.py is stopped and its
/tmp/meibo-pg-* base removed by the base's watchdog. Normal shutdown (``remove_base``) still
removes the base itself and dismisses the watchdog."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.sync_env import make_env
from tooling.pgcluster import _WATCHDOGS, _alive, new_base, remove_base

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0

OWNER = r"""
import json, subprocess, sys
from tooling.lifeline import popen
from tooling.meibo_process import meibo_argv
from tooling.pgcluster import _WATCHDOGS, new_base, start_primary

hq_root, tdir = sys.argv[1], sys.argv[2]
base = new_base()
children = [popen(meibo_argv() + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            for args in (["hq", "serve", hq_root, "--dev-loopback"], ["terminal", "run", tdir])]
node = start_primary(base, "pg1")  # while the children start
for p in children:
    if not p.stdout.readline():
        sys.exit(f"{p.args[1:3]} did not start")
children = [p.pid for p in children]
print(json.dumps({"base": str(base), "postmaster": node.pid(), "watchdog": _WATCHDOGS[base].pid,
                  "children": children}), flush=True)
sys.stdin.read()  # until killed
"""


def _until(what: str, cond: object) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: still there after {DEADLINE_S:.0f} s"
        time.sleep(0.05)


def test_sigkilled_owner_leaves_no_process_and_no_base(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    script = tmp_path / "owner.py"
    script.write_text(OWNER, "utf-8")
    owner = subprocess.Popen([sys.executable, str(script), str(env.hq.root), str(env.terminals["T01"].root)],
                             cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert owner.stdout is not None
    line = owner.stdout.readline()
    if not line:
        owner.kill()
        owner.wait()
    assert line, f"the owner did not start (exit {owner.returncode})"
    seen = json.loads(line)
    base = Path(seen["base"])
    pids = [seen["postmaster"], seen["watchdog"], *seen["children"]]
    assert all(_alive(p) for p in pids) and base.exists()

    owner.kill()  # SIGKILL: no finally, no atexit
    owner.wait()
    for pid in seen["children"]:
        _until(f"child {pid}", lambda pid=pid: not _alive(pid))
    _until(f"postmaster {seen['postmaster']}", lambda: not _alive(seen["postmaster"]))
    _until(f"base {base}", lambda: not base.exists())
    _until(f"watchdog {seen['watchdog']}", lambda: not _alive(seen["watchdog"]))


def test_normal_shutdown_removes_the_base_and_dismisses_its_watchdog() -> None:
    base = new_base()
    watchdog = _WATCHDOGS[base]
    assert watchdog.poll() is None and base.exists()
    remove_base(base)
    assert not base.exists()
    assert watchdog.returncode is not None and base not in _WATCHDOGS
