"""The simulation is pure: no module of sync_protocol/sim imports sockets, asyncio, SQLite,
threads, the real clock or the OS random source (a hidden one would break replay)."""

import ast
from pathlib import Path

import tooling.sim

FORBIDDEN = {"socket", "asyncio", "sqlite3", "sqlite_utils", "aiohttp", "time", "threading", "os", "secrets",
             "subprocess", "selectors", "ssl"}


def test_sim_modules_import_nothing_that_does_io_or_reads_the_clock():
    root = Path(tooling.sim.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
    assert len(list(root.glob("*.py"))) >= 9
