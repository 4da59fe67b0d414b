"""The reads the offline commands and the console ask of HQ's store (issue 18) give the same rows on
hq.db and on a real PostgreSQL server (pg_database): the 不在者投票 moves (all, or one voter's, oldest
first), the bodies of some kinds in ingest order, and the follower's pages after a cursor (a body
only for the kinds asked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.dirs import HqDir
from cli.main import main
from hq.store import HqStore
from tests.unit.sync_protocol.hq_day_dir import hq_with_day


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> HqStore:
    hq, _ = hq_with_day(tmp_path)
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        assert main(["hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", url]) == 0
        for p in hq.root.glob("hq.db*"):
            p.unlink()
    capsys.readouterr()
    s = HqStore(HqDir(hq.root), store_url=url)
    request.addfinalizer(s.close)
    return s


def test_the_reads_answer_alike_on_both_backends(store: HqStore) -> None:
    store.add_absentee_status("30", "shu", "requested", "2027-04-18T10:00:00", "選管", "")
    store.add_absentee_status("31", "shu", "requested", "2027-04-18T10:01:00", "選管", "電話")
    store.add_absentee_status("30", "shu", "issued", "2027-04-18T10:02:00", "選管", "")
    rows = store.absentee_rows()
    assert [(v, s, n) for _, v, _, s, _, _, n in rows] == [("30", "requested", ""), ("31", "requested", "電話"),
                                                            ("30", "issued", "")]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert [r[3] for r in store.absentee_rows("30")] == ["requested", "issued"]

    every = list(b for chunk in store.db.bodies(1000) for b in chunk)
    pages, after = [], 0
    while page := store.events_after(after, 3):
        pages += page
        after = page[-1][0]
    assert [bytes(b) for _, _, b in pages] == every and len(every) > 3
    counts = store.events_of_kinds(["count"])
    assert counts and all(b in every for b in counts)
    changes = store.changes_after(0, 10_000, {"count"})
    assert [c[0] for c in changes] == [p[0] for p in pages]
    assert all((body is not None) == (kind == "count") for _, _, _, _, kind, body in changes)
    assert [bytes(c[5]) for c in changes if c[5] is not None] == counts
    assert store.changes_after(changes[-1][0], 10, {"count"}) == []
