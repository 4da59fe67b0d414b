"""`meibo terminal checkin|void|verify --json` through the real console script."""

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

from tests.builders import moved_voter, raw_connect, terminal_dir, voter

ROOT = Path(__file__).resolve().parents[3]
MEIBO = str(ROOT / ".venv" / "bin" / "meibo")
NOW = "2027-04-15T10:00"  # 国民審査 not yet open


def meibo(*args: str, json_out: bool = True) -> tuple[int, Any]:
    p = subprocess.run([MEIBO, *args] + (["--json"] if json_out else []), capture_output=True, text=True, timeout=120)
    return p.returncode, (json.loads(p.stdout) if json_out else p.stdout + p.stderr)


def test_checkin_void_verify(tmp_path: Path) -> None:
    t = terminal_dir(tmp_path / "t", [voter("1"), moved_voter("2", moved_on=date(2027, 3, 1))])
    rc, out = meibo("terminal", "checkin", str(t.root), "1", "--clerk", "k1", "--now", NOW)
    assert rc == 1 and out["code"] == "outside_period" and out["seq"] == 1
    assert [(c["contest"], c["status"]) for c in out["contests"]] == [
        ("shu", "offline_provisional"), ("shinsa", "outside_period"),
        ("governor", "offline_provisional"), ("mayor", "offline_provisional")]

    rc, out = meibo("terminal", "checkin", str(t.root), "1", "--now", NOW)
    assert rc == 1 and out["code"] == "already_voted" and out["seq"] is None
    assert out["contests"][0]["voted_station"] == "E01"

    rc, out = meibo("terminal", "checkin", str(t.root), "2", "--now", "2027-04-20T10:00")
    assert rc == 1 and out["code"] == "not_eligible_moved"
    gov = next(c for c in out["contests"] if c["contest"] == "governor")
    assert gov["status"] == "offline_provisional" and gov["proof_required"] is True

    rc, text = meibo("terminal", "checkin", str(t.root), "1", "--now", "2027-04-20T10:00", json_out=False)
    # back for the 国民審査 once it opens: handed; the others refused (so a non-zero exit)
    assert rc == 1 and "1. 最高裁判所裁判官国民審査" in text and "交付済み" in text

    rc, out = meibo("terminal", "checkin", str(t.root), "404", "--now", NOW)
    assert rc != 0 and out["code"] == "not_found"

    rc, out = meibo("terminal", "void", str(t.root), "1", "--reason", "投票せずに帰った", "--clerk", "s1")
    assert rc == 0 and out["code"] == "ok" and out["ref"] == 1
    rc, out = meibo("terminal", "void", str(t.root), "1", "--reason", "again")
    assert rc != 0 and out["code"] == "void_refused"
    rc, out = meibo("terminal", "void", str(t.root), "2", "--reason", "provisional entry")
    assert rc != 0 and out["code"] == "void_refused"

    rc, out = meibo("terminal", "verify", str(t.root))
    assert rc == 0 and out["code"] == "ok" and out["entries"] == out["head_seq"] >= 6

    c = raw_connect(t.store_path)
    c.execute("UPDATE journal SET hlc=hlc+1 WHERE seq=3")
    c.commit()
    c.close()
    rc, out = meibo("terminal", "verify", str(t.root))
    assert rc == 1 and out["code"] == "journal_corrupt" and out["first_broken"] == 3
