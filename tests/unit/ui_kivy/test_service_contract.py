"""One scenario, two implementations: the fake (presenter tests, screenshots) must answer as the real
TerminalService over a real terminal directory and SQLite store does (no HQ link: offline)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.barcode import BarcodeCheckDigit
from appliance.clock import FixedClock
from appliance.errors import MeiboError, NotFound, StationClosed
from appliance.store import Store
from appliance.terminal import Terminal, write_pin
from tests.builders import EARLY_NOON, terminal_dir
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.service import KioskService, Outcome, TerminalService

from tests.unit.ui_kivy.conftest import CONFIG, VOTERS, barcode


@pytest.fixture(params=["fake", "real"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KioskService]:
    clock = FixedClock(EARLY_NOON)
    if request.param == "fake":
        yield FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), clock, online=False)
        return
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    store = Store(tdir.store_path)
    with store.atomic() as c:
        store.set_meta(c, "roll_version", "1")
    store.close()
    write_pin(tdir, "1234")
    term = Terminal.open(tdir, clock)
    yield TerminalService(term)
    term.close()


async def test_contract(svc: KioskService) -> None:
    assert svc.station_state().state == "never"
    with pytest.raises(StationClosed):
        await svc.checkin("100001", "c")
    assert svc.set_station("open", "管理者").is_open
    with pytest.raises(MeiboError):
        svc.set_station("open", "管理者")

    card = svc.lookup_barcode(barcode("100001"))
    assert (card.name, card.birth_wareki, card.age, card.voted) == ("山田 太郎", "昭和60年4月1日", 42, ())
    with pytest.raises(BarcodeCheckDigit):
        svc.lookup_barcode(barcode("100001")[:-1] + str((int(barcode("100001")[-1]) + 1) % 10))
    with pytest.raises(NotFound):
        svc.lookup_barcode(barcode("999999"))
    with pytest.raises(NotFound):
        svc.voter_card("999999")

    found = svc.search_kana("やまだ")
    assert [c.voter_id for c in found.cards] == ["100003", "100001", "100002"] and not found.truncated
    assert [c.voter_id for c in svc.search_kana("ヤマダ", card.birth_date).cards] == ["100001"]
    with pytest.raises(MeiboError):
        svc.search_kana("山田")

    assert all(b.outcome is Outcome.HAND for b in svc.preview("100001"))
    svc.audit_lookup(["100001"], "scan", "c")
    ans = await svc.checkin("100001", "c")
    assert ans.seq is not None and ans.provisional
    assert [b.outcome for b in ans.lines] == [Outcome.HAND_OFFLINE] * 4
    again = await svc.checkin("100001", "c")
    assert again.seq is None and [b.outcome for b in again.lines] == [Outcome.ALREADY_VOTED] * 4
    assert again.lines[0].where == "中区役所 期日前投票所"
    assert [v.contest for v in svc.voter_card("100001").voted] == ["shu", "shinsa", "governor", "mayor"]
    deleted = await svc.checkin("100005", "c")
    assert deleted.seq is None and {b.code for b in deleted.lines} == {"not_eligible_deleted"}

    rows = svc.recent_checkins()
    assert [(r.seq, r.name, r.voided) for r in rows] == [(ans.seq, "山田 太郎", False)]
    with pytest.raises(MeiboError):
        svc.void(ans.seq, "   ", "管理者")
    svc.void(ans.seq, "投票せずに帰った", "管理者")
    with pytest.raises(MeiboError):
        svc.void(ans.seq, "投票せずに帰った", "管理者")
    assert svc.recent_checkins()[0].voided
    assert [b.outcome for b in svc.preview("100001")] == [Outcome.HAND] * 4

    ans2 = await svc.checkin("100002", "c")
    svc.record_count("shu", 12, 2, "管理者")
    with pytest.raises(MeiboError):
        svc.record_count("nope", 12, 2, "管理者")
    with pytest.raises(MeiboError):
        svc.record_count("shu", 25, 2, "管理者")
    counts = {r.contest: (r.recorded, r.issued, r.hour, r.diff) for r in svc.counts()}
    assert counts["shu"] == (1, 2, 12, 1) and counts["mayor"] == (1, None, None, None)
    assert ans2.seq is not None

    assert svc.check_pin("1234") and not svc.check_pin("9999")
    link = svc.link_status()
    assert not link.online and link.pending >= 1
    assert svc.take_late_alerts() == []
    assert svc.set_station("close", "管理者").state == "closed"
    with pytest.raises(StationClosed):
        await svc.checkin("100004", "c")
