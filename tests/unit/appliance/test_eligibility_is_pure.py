"""The eligibility rules import no I/O (STYLE rule 1)."""

import ast
from pathlib import Path

import appliance.eligibility as el

FORBIDDEN = {"sqlite3", "sqlite_utils", "socket", "aiohttp", "os", "pathlib", "time", "random",
             "appliance.store", "appliance.journal", "appliance.terminal", "kivy"}


def test_eligibility_imports_nothing_that_does_io() -> None:
    tree = ast.parse(Path(el.__file__).read_text("utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    assert names and not names & FORBIDDEN, names & FORBIDDEN
