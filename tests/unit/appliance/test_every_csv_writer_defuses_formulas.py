"""Every CSV meibo writes goes through appliance/csvsafe.py (OWASP CSV injection): no module of
the product builds a ``csv.writer`` / ``csv.DictWriter`` of its own, where a new export could
forget to defuse a clerk id or a carrier name from a terminal."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("ground", "appliance", "sync_protocol", "hq", "provisioning", "ui_kivy", "hardware")


def _writers(path: Path) -> list[int]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr in ("writer", "DictWriter")
            and isinstance(n.value, ast.Name) and n.value.id == "csv"]


def test_no_product_module_but_csvsafe_builds_a_csv_writer() -> None:
    found = {str(p.relative_to(ROOT)): lines for pkg in PACKAGES if (ROOT / pkg).is_dir()
             for p in sorted((ROOT / pkg).rglob("*.py")) if (lines := _writers(p))}
    assert set(found) == {"appliance/csvsafe.py"}, found
