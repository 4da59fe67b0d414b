"""The demo runs ``meibo`` itself as child processes, as an election office would: how to start
it, run one command to completion, and find a free loopback port for a server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ground.errors import MeiboError


def free_port() -> int:
    """A free TCP port on loopback (for HQ, its enrollment endpoint)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def meibo_argv() -> list[str]:
    """How to start ``meibo`` from here: the venv's console script, else ``python -m cli.main``."""
    exe = Path(sys.executable).parent / "meibo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli.main"]


def run_meibo(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """``meibo ARGS`` to completion; a non-zero exit becomes ``demo_step_failed``."""
    p = subprocess.run(meibo_argv() + args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise MeiboError(f"meibo {' '.join(args[:2])} が失敗しました: {p.stderr.strip() or p.stdout.strip()}",
                         code="demo_step_failed")
    return p
