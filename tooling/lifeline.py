"""Children that die with their parent, even when the parent is SIGKILLed (no orphans).

Owns two things: ``popen`` (a ``subprocess.Popen`` whose child gets SIGKILL when its parent
dies: Linux's ``PR_SET_PDEATHSIG``, armed in the child between fork and exec), and the base
watchdog (``watch_base``): a small process that waits for its owner to exit and then stops every
PostgreSQL server under a tooling/pgcluster.py base directory and removes it. The watchdog is
needed because pg_ctl daemonises the postmaster (its parent becomes init, so no death signal of
ours reaches it, and ``runuser`` changing the user would clear one anyway).
Imports only the standard library at module level (the watchdog is watching before it imports
tooling/pgcluster.py, which it needs only to remove the base).

Why hand-written: the standard library has no parent-death signal (only ``preexec_fn``, which
this fills with one ``prctl`` call through ctypes), and no library of ours watches a process
for exit; ``os.pidfd_open`` (Linux >= 5.3) makes that a single blocking ``select``. A
``process_group`` alone would not do: nothing signals a group when its leader's parent is killed.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
READY = b"watching\n"
POLL_FALLBACK_S = 0.2  # only without pidfd_open: how often the watchdog looks at its parent


def _prctl() -> Any:
    return ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn``: the child receives ``sig`` when the process that forked it exits (the
    forking *thread*, as Linux defines it: spawn long-lived children from a thread that lives as
    long as they should). If the parent died before the signal was armed, the child kills itself."""
    parent = os.getpid()
    prctl = _prctl()  # looked up before the fork: the child only calls it

    def arm() -> None:
        if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            os._exit(127)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return arm


def popen(argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **kw)`` whose child is SIGKILLed when we die. ``preexec_fn`` is
    unsafe only for Python code that may take a lock another thread held at the fork; ``arm``
    takes none (one foreign call, two syscalls). ``setpriv --pdeathsig`` would need no
    preexec_fn but could not see a parent that died before it armed the signal."""
    return subprocess.Popen(argv, preexec_fn=die_with_parent(), **kw)  # noqa: PLW1509


def watch_base(base: Path) -> subprocess.Popen[bytes]:
    """Start the watchdog of ``base``; returns once it is watching us. ``dismiss`` it after the
    base is removed. It runs in a session of its own, so a signal to our process group (Ctrl-C,
    a killed test run) does not take it down before it has cleaned up."""
    p = subprocess.Popen([sys.executable, "-m", "tooling.lifeline", str(os.getpid()), str(base)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True,
                         cwd=str(Path(__file__).resolve().parent.parent))
    assert p.stdout is not None
    line = p.stdout.readline()
    p.stdout.close()
    if line != READY:
        p.kill()
        p.wait()
        raise OSError(f"the watchdog of {base} did not start (exit {p.returncode})")
    return p


def dismiss(p: subprocess.Popen[bytes]) -> None:
    """Stop a watchdog whose base its owner has removed itself (normal shutdown)."""
    if p.poll() is None:
        p.terminate()
    p.wait()


def _wait_for_exit(owner: int, meanwhile: Callable[[], object]) -> None:
    """Block until process ``owner`` (our parent when we started) has exited; once it knows we
    watch, do ``meanwhile`` (the slow imports, so the clean-up starts at once when it is due)."""
    try:
        fd = os.pidfd_open(owner)
    except ProcessLookupError:
        return
    except OSError:  # no pidfd (old kernel): look at who our parent is now
        fd = -1
    if os.getppid() != owner:  # it died before we could watch it
        return
    try:
        sys.stdout.buffer.write(READY)
        sys.stdout.buffer.flush()
    except OSError:  # the owner is gone already: nobody reads
        pass
    meanwhile()
    if fd >= 0:
        select.select([fd], [], [])
        os.close(fd)
        return
    while os.getppid() == owner:
        time.sleep(POLL_FALLBACK_S)


def main(argv: list[str]) -> int:
    owner, base = int(argv[0]), Path(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # our owner's Ctrl-C is its to handle
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _wait_for_exit(owner, _import_pgcluster)
    if base.exists():
        _import_pgcluster().remove_base(base)
    return 0


def _import_pgcluster() -> Any:
    import tooling.pgcluster  # lazy: the module imports this one (and psycopg)

    return tooling.pgcluster


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
