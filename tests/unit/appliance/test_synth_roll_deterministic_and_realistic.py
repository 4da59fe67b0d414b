"""Synthetic rolls: same seed same bytes, every status kind present, readable by the importer."""

import io
from datetime import date, timedelta
from pathlib import Path

from cli.main import main
from appliance.kana import is_valid_kana
from ground.model import DisplayReason, Status
from appliance.rollcsv import parse_roll
from appliance.synth import SynthSettings, write_roll


def _csv(n: int, seed: int) -> str:
    buf = io.StringIO()
    write_roll(SynthSettings(voters=n, seed=seed), buf)
    return buf.getvalue()


def test_deterministic_per_seed() -> None:
    assert _csv(300, 7) == _csv(300, 7)
    assert _csv(300, 7) != _csv(300, 8)


def test_realistic_and_importable() -> None:
    ed = date(2027, 4, 25)
    voters = parse_roll(_csv(3000, 1).encode(), election_day=ed)
    assert len(voters) == 3000 and voters[0].voter_id == "0000000001" and voters[-1].voter_id == "0000003000"
    kinds = {(v.status, v.display_reason, v.moved_within_prefecture) for v in voters}
    assert {(Status.DELETED, None, None), (Status.DISPLAYED, DisplayReason.MOVED, True),
            (Status.DISPLAYED, DisplayReason.MOVED, False), (Status.DISPLAYED, DisplayReason.LOST_RIGHTS, None),
            (Status.REGISTERED, None, None)} <= kinds
    assert all(is_valid_kana(v.name_kana) and " " in v.name_kana for v in voters)
    # moved within the prefecture recently (within three months of election day)
    assert all(ed - v.moved_on <= timedelta(days=92) for v in voters
               if v.display_reason is DisplayReason.MOVED and v.moved_within_prefecture)
    born = [v.birth_date.as_date() for v in voters]  # BirthDate (issue 19); synthetic dates are all known
    assert all(b is not None for b in born)
    ages = [(ed - b).days / 365.25 for b in born if b is not None]
    assert min(ages) >= 17.9 and max(ages) <= 101.1
    # some turn 18 during the early-voting period (18th birthday between 04-12 and 04-26)
    assert any(b is not None and date(2009, 4, 12) <= b <= date(2009, 4, 26) for b in born)
    assert len({v.district for v in voters}) >= 1 and any("髙" in v.name or "﨑" in v.name or "邊" in v.name
                                                          for v in voters)


def test_cli_synth_roll(tmp_path: Path) -> None:
    out = tmp_path / "roll.csv"
    assert main(["synth-roll", "--voters", "50", "--seed", "3", "--out", str(out), "--districts", "4"]) == 0
    voters = parse_roll(out.read_bytes())
    assert len(voters) == 50 and {v.district for v in voters} <= {1, 2, 3, 4}
