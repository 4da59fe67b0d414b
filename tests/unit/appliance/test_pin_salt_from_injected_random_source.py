"""The supervisor PIN's salt comes from the random source the caller passes (STYLE rule 6): the
same seed gives the same salt and hash, another seed another salt, and the PIN still checks."""

from __future__ import annotations

import json
import random
from pathlib import Path

from appliance.dirs import TerminalDir
from appliance.terminal import check_pin, write_pin


def _written(root: Path, seed: int) -> dict[str, object]:
    tdir = TerminalDir(root)
    (root / "keys").mkdir(parents=True)
    write_pin(tdir, "2468", randbytes=random.Random(seed).randbytes)
    assert check_pin(tdir, "2468") and not check_pin(tdir, "1357")
    return dict(json.loads((root / "keys" / "supervisor.pin").read_text("utf-8")))


def test_same_seed_same_salt_other_seed_other_salt(tmp_path: Path) -> None:
    a, b, c = _written(tmp_path / "a", 7), _written(tmp_path / "b", 7), _written(tmp_path / "c", 8)
    assert a == b
    assert a["salt"] == random.Random(7).randbytes(16).hex()
    assert c["salt"] != a["salt"] and c["hash"] != a["hash"]
