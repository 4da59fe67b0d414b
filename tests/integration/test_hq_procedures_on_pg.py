"""``meibo hq reports`` and ``meibo hq absentee-status`` on a PostgreSQL store (issue 18) say what they
say on hq.db: the same report day is on both (copied by ``hq migrate-store``, hq.db removed after),
every report kind gives the same output, the same 不在者投票 moves give the same answers (an illegal
one refused on both), and the 受理 ballot shows in the reports of both. On a real server (pg_database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.dirs import HqDir
from cli.main import main
from hq import procedures as H
from hq.store import HqStore
from tests.unit.sync_protocol.hq_day_dir import hq_with_day

KINDS = ("hourly", "early", "age", "tohyoroku", "reconcile")


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().out


@pytest.fixture
def two_hqs(tmp_path: Path, pg_database: str, capsys: pytest.CaptureFixture[str]) -> tuple[HqDir, HqDir, str]:
    """The same day on hq.db (first) and on PostgreSQL (second, no hq.db in its HQDIR)."""
    (tmp_path / "sq").mkdir()
    (tmp_path / "pg").mkdir()
    sq, _ = hq_with_day(tmp_path / "sq")
    pg, _ = hq_with_day(tmp_path / "pg")
    rc, out = _run(capsys, ["hq", "migrate-store", str(pg.root), "--from", "sqlite", "--to", pg_database])
    assert rc == 0, out
    for p in pg.root.glob("hq.db*"):
        p.unlink()
    return sq, pg, pg_database


def test_reports_and_absentee_status_on_postgresql_match_sqlite(
        two_hqs: tuple[HqDir, HqDir, str], capsys: pytest.CaptureFixture[str]) -> None:
    sq, pg, dsn = two_hqs

    def both(argv: list[str]) -> tuple[tuple[int, str], tuple[int, str]]:
        a = _run(capsys, [argv[0], argv[1], str(sq.root), *argv[2:]])
        b = _run(capsys, [argv[0], argv[1], str(pg.root), *argv[2:], "--store", dsn])
        return a, b

    for what in KINDS:
        for fmt in ("csv", "json"):
            a, b = both(["hq", "reports", "--what", what, "--format", fmt])
            assert a[0] == 0 and a == b, (what, fmt)
    base = ["hq", "absentee-status", "30", "--contest", "shu", "--who", "選管 山本", "--now", "2027-04-18T10:00",
            "--json"]
    for state in ("requested", "issued", "accepted", "received", "accepted"):  # the first accepted is refused
        a, b = both([*base, "--state", state])
        assert a == b, state
    assert json.loads(a[1].strip().splitlines()[-1])["record_ballot"] is True
    for what in ("reconcile", "early"):
        a, b = both(["hq", "reports", "--what", what, "--format", "json"])
        assert a[0] == 0 and a == b, what
    assert not (pg.root / "hq.db").exists()
    store = HqStore(pg, store_url=dsn)
    try:
        cur = H.absentee_current(store)
        assert cur[("30", "shu")]["state"] == "accepted" and len(store.absentee_rows("30")) == 4
        assert store.load().holder("30", "shu") is not None
    finally:
        store.close()
