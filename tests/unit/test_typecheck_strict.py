"""STYLE rule 13: the core packages type-check with mypy in strict mode (pyproject's settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_packages_are_strictly_typed(tmp_path):
    p = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"),
                        "ground", "appliance", "sync_protocol", "hq", "provisioning", "hardware"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:]
