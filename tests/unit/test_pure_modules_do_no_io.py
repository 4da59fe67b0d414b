"""The pure rooms stay pure (STYLE rule 1): the codec, the two protocol sessions, the ledger's rules, the
enrollment state machine, eligibility and the parsers do no I/O, read no clock and draw no randomness.

A pure module imports no module that talks to the world (files, sockets, SQLite, threads, the real
clock, the OS random source), and of meibo's own modules only other pure ones — so an I/O import
cannot come in through the back door either. Clocks come in as a ``Clock`` argument: importing the
``ground.clock`` interface is allowed, calling the system clock is not. Each of these modules is
also replayed: the same inputs give the same outputs (the property tests drive them that way).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PURE = [
    "ground.errors", "ground.model", "ground.birthdate", "ground.events", "ground.barcode", "ground.hlc", "ground.rehearsal", "ground.names",
    "sync_protocol.errors", "sync_protocol.codec", "sync_protocol.headers", "sync_protocol.crypto",
    "sync_protocol.session", "sync_protocol.hq_nodes",
    "hq.screen", "hq.session", "hq.ledger", "hq.ledger.core", "hq.ledger.streams", "hq.ledger.verdicts",
    "provisioning.enroll",
    "appliance.eligibility", "appliance.wareki", "appliance.kana", "appliance.birthdate", "appliance.atena",
    "appliance.rollpkg", "appliance.zaigaipkg",  # the signed packages: verify and decode, bytes in, values out
]
# Interfaces a pure module may import although the module also holds an adapter to the world:
# the ``Clock`` protocol (the system clock in it is never called from a pure module, checked below).
INTERFACES = {"ground.clock"}

WORLD = {"os", "pathlib", "time", "random", "secrets", "uuid", "socket", "ssl", "selectors",
         "asyncio", "threading", "multiprocessing", "subprocess", "fcntl", "shutil", "tempfile", "glob",
         "sqlite3", "sqlcipher3", "sqlite_utils", "aiohttp", "serial", "smartcard", "kivy", "logging"}
# Calls that read the clock or the random source even without an import of their own.
HIDDEN_CALLS = {"now", "utcnow", "today", "urandom", "token_bytes", "SystemClock", "system_clock",
                "generate", "getrandbits"}


def _path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin)


def _imports(module: str) -> set[str]:
    tree = ast.parse(_path(module).read_text("utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _calls(module: str) -> set[str]:
    tree = ast.parse(_path(module).read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else "")
    return names


OURS = {"ground", "appliance", "hardware", "provisioning", "sync_protocol", "hq", "ui_kivy", "cli", "tooling"}


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_nothing_that_talks_to_the_world(module: str) -> None:
    imports = _imports(module)
    world = sorted(m for m in imports if m.split(".")[0] in WORLD)
    impure_ours = sorted(m for m in imports
                         if m.split(".")[0] in OURS and m not in PURE and m not in INTERFACES
                         and not any(m.startswith(p + ".") for p in PURE))
    assert world == [], f"{module} imports I/O: {world}"
    assert impure_ours == [], f"{module} imports meibo modules that are not pure: {impure_ours}"


@pytest.mark.parametrize("module", PURE)
def test_pure_module_reads_no_clock_and_draws_no_randomness(module: str) -> None:
    hidden = sorted(_calls(module) & HIDDEN_CALLS)
    assert hidden == [], f"{module} calls {hidden}: clocks and randomness must be passed in"


def test_a_probe_with_a_hidden_clock_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks can fail: a module that imports time and calls datetime.now is reported by both."""
    (tmp_path / "probe_impure.py").write_text(
        "import time\nfrom datetime import datetime\n\ndef stamp():\n    return datetime.now(), time.time()\n",
        "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match="imports I/O"):
        test_pure_module_imports_nothing_that_talks_to_the_world("probe_impure")
    with pytest.raises(AssertionError, match="now"):
        test_pure_module_reads_no_clock_and_draws_no_randomness("probe_impure")
