"""年齢確認 on the confirm screen (issue 19): a voter whose 生年月日 不詳 leaves the 18-year rule open
gets no ballot until the poll worker has checked an ID and chosen which; the check-in then carries
it (the ``age_confirmed`` mark in the journal's check-in entry). Run over the fake and over the
real TerminalService on a real terminal store, which must answer alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.terminal import Terminal, write_pin
from ground.birthdate import BirthDate
from ground.clock import FixedClock
from ground.errors import UsageError
from ground.events import EventKind, decode
from tests.builders import EARLY_NOON, terminal_dir, voter
from tests.unit.ui_kivy.conftest import CONFIG, barcode
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.result import ResultKind
from ui_kivy.service import KioskService, TerminalService

OPEN_AGE = voter("300001", name="不詳 若者", name_kana="フショウ ワカモノ", birth_date=BirthDate(2009))  # type: ignore[arg-type]
UNKNOWN = voter("300002", name="不詳 全部", name_kana="フショウ ゼンブ", birth_date=BirthDate(None))  # type: ignore[arg-type]
PROVEN = voter("300003", name="不詳 年長", name_kana="フショウ ネンチョウ", birth_date=BirthDate(1945, 3))  # type: ignore[arg-type]
VOTERS = [OPEN_AGE, UNKNOWN, PROVEN]


@pytest.fixture(params=["fake", "real"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KioskService]:
    clock = FixedClock(EARLY_NOON)
    if request.param == "fake":
        s: KioskService = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), clock, online=False)
        s.set_station("open", "管理者")
        yield s
        return
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    write_pin(tdir, "1234")
    term = Terminal.open(tdir, clock)
    with term.store.atomic() as c:
        term.store.set_meta(c, "roll_version", "1")
    real = TerminalService(term)
    real.set_station("open", "管理者")
    yield real
    term.close()


def checkins(svc: KioskService) -> list[dict[str, Any]]:
    if isinstance(svc, FakeKioskService):
        evs = svc.events
    else:
        assert isinstance(svc, TerminalService)
        evs = [decode(bytes(b)) for (b,) in svc.term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
    return [dict(e.data) for e in evs if e.kind is EventKind.CHECKIN]


@pytest.mark.parametrize("who", [OPEN_AGE, UNKNOWN], ids=["year_only", "all_unknown"])
async def test_no_ballot_until_an_id_is_chosen_then_the_checkin_carries_it(svc: KioskService, who: Any) -> None:
    flow = KioskFlow(svc, "係員A")
    flow.on_barcode(barcode(who.voter_id))
    c = flow.confirm
    assert flow.screen is Screen.CONFIRM and c is not None
    assert "不詳" in c.age_check and "本人確認書類" in c.age_check
    assert all(p.text.startswith("！ 年齢確認が必要") and not p.ok for p in c.lines)
    assert flow.marks.age_required and dict(flow.marks.age_choices)["license"] == "運転免許証"
    panel = flow.age_panel
    assert panel is not None and panel.colour == "amber" and panel.title.startswith("！ 年齢確認が必要です")
    flow.choose_oath("work")
    assert not flow.can_confirm  # the 宣誓書事由 alone is not enough
    assert await flow.confirm_checkin() is None
    assert "本人確認書類で年齢を確認" in flow.notice.text and flow.screen is Screen.CONFIRM
    assert checkins(svc) == []  # nothing recorded

    with pytest.raises(ValueError):
        flow.choose_age_id("bogus")
    flow.choose_age_id("license")
    c = flow.confirm
    assert c is not None and all(p.ok and "年齢確認済み" in p.text for p in c.lines) and c.age_id == "運転免許証"
    assert flow.age_panel is not None and flow.age_panel.colour == "green" and "運転免許証" in flow.age_panel.title
    assert flow.can_confirm
    r = await flow.confirm_checkin()
    assert r is not None and r.kind is ResultKind.OFFLINE and len(r.hand) == 4
    assert all("年齢確認済み" in h.note for h in r.hand)
    (entry,) = checkins(svc)
    assert entry["age_confirmed"] == "license" and entry["voter"] == who.voter_id


async def test_a_known_part_that_proves_the_age_asks_nothing(svc: KioskService) -> None:
    flow = KioskFlow(svc, "係員A")
    flow.on_barcode(barcode(PROVEN.voter_id))
    c = flow.confirm
    assert c is not None and c.age_check == "" and not flow.marks.age_required and flow.age_panel is None
    assert all(p.ok for p in c.lines)
    with pytest.raises(Exception):
        flow.choose_age_id("license")  # nothing to confirm: an illegal intent
    flow.choose_oath("work")
    assert await flow.confirm_checkin() is not None
    assert "age_confirmed" not in checkins(svc)[0]


def test_an_unknown_id_kind_is_refused_with_a_code(svc: KioskService) -> None:
    with pytest.raises(UsageError) as e:
        svc.checkin_marks(oath_reason="work", age_confirmed="bogus")
    assert e.value.code == "age_id_invalid"
    assert svc.checkin_marks(oath_reason="work", age_confirmed="passport")["age_confirmed"] == "passport"
