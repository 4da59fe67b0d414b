"""One scenario, two implementations: the fake (presenter tests, screenshots) must answer as the real
TerminalService over a real terminal directory and SQLite store does (no HQ link: offline)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import procedures as P
from ground.barcode import BarcodeCheckDigit
from ground.clock import FixedClock
from ground.errors import MeiboError, NotFound, StationClosed
from appliance.store import Store
from appliance.terminal import Terminal, write_pin
from tests.builders import EARLY_NOON, terminal_dir
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.service import KioskService, Outcome, TerminalService

from tests.unit.ui_kivy.conftest import CONFIG, VOTERS, barcode
from tests.unit.ui_kivy.zaigai_data import install_zaigai, zaigai_voters


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


def absentee_notice(svc: KioskService, voter: str, contest: str, state: str) -> None:
    """HQ's 不在者投票 notice reaching the terminal (the sync agent applies it on the real one)."""
    if isinstance(svc, FakeKioskService):
        svc.absentee[(voter, contest)] = state
    else:
        assert isinstance(svc, TerminalService)
        P.apply_absentee_notice(svc.term.store, voter, contest, state, 1)


async def test_contract(svc: KioskService) -> None:
    assert svc.station_state().state == "never"
    chk = svc.opening_check()
    assert chk.status == "unchecked" and chk.local.roll_version == 1
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
    with pytest.raises(MeiboError):
        svc.record_tentative(contests=[], reason="claims_not_voted", decided_by="投票管理者", clerk="c",
                             voter_id="100001")
    with pytest.raises(MeiboError):
        svc.record_tentative(contests=["shu"], reason="nope", decided_by="投票管理者", clerk="c", voter_id="100001")
    tent = svc.record_tentative(contests=["shu", "mayor"], reason="claims_not_voted", decided_by="投票管理者",
                                clerk="c", voter_id="100001")
    assert (tent.voter, tent.contests, tent.reason.ja) == ("100001", ("shu", "mayor"), "投票済の申立て")
    assert "通常の受付ではありません" in tent.text(svc.config)
    assert [b.outcome for b in svc.preview("100001")] == [Outcome.ALREADY_VOTED] * 4  # nothing handed
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

    assert svc.absentee_warning("100002") is None
    absentee_notice(svc, "100002", "mayor", "issued")
    absentee_notice(svc, "100002", "shu", "accepted")
    warn = svc.absentee_warning("100002")
    assert warn is not None and warn.contests == (("mayor", "issued"),)
    assert warn.text.startswith("！ 不在者投票の用紙を請求・交付済みの方です: 横浜市長選挙（用紙交付済）")
    with pytest.raises(MeiboError):
        await svc.checkin("100002", "c", {"oath": "work"})
    assert svc.checkin_marks() == {}  # the kiosk asks for the 事由 on screen, not here
    with pytest.raises(P.OathReasonInvalid):
        svc.checkin_marks(oath_reason="nope")
    marks2 = svc.checkin_marks(oath_reason="1号", proxy=True)
    assert marks2 == {"oath_reason": "work", "proxy": True}
    ans2 = await svc.checkin("100002", "c", marks2)
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
    figs = svc.close_day("管理者")
    assert svc.station_state().state == "closed"
    assert (figs.voters, figs.tentative, figs.proxy, figs.braille, figs.oath_reasons) == (1, 1, 1, 0, {"work": 1})
    assert [(c.contest, c.matched, c.issued) for c in figs.contests][0] == ("shu", 1, 2)
    with pytest.raises(StationClosed):
        await svc.checkin("100004", "c")


@pytest.fixture(params=["fake", "real"])
def svc_zaigai(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KioskService]:
    """The same, with the 在外選挙人名簿 of tests/unit/ui_kivy/zaigai_data.py installed."""
    clock = FixedClock(EARLY_NOON)
    if request.param == "fake":
        yield FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), clock, online=False,
                               zaigai=zaigai_voters())
        return
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    store = Store(tdir.store_path)
    with store.atomic() as c:
        store.set_meta(c, "roll_version", "1")
    install_zaigai(store)
    store.close()
    term = Terminal.open(tdir, clock)
    yield TerminalService(term)
    term.close()


async def test_contract_zaigai_closing_report_interrupted(svc_zaigai: KioskService) -> None:
    svc = svc_zaigai
    assert svc.interrupted_checkins() == []  # the first start sets the mark
    svc.set_station("open", "管理者")
    assert svc.zaigai_allowed()
    card = svc.zaigai_lookup("９０００-０１")
    assert (card.name, card.kana, card.birth_wareki, card.country, card.voter_key) == (
        "鈴木 一郎", "スズキ イチロウ", "昭和50年5月5日", "アメリカ合衆国", "Z:900001")
    with pytest.raises(NotFound):
        svc.zaigai_lookup("123")
    marks = svc.checkin_marks(oath_reason="work")
    with pytest.raises(P.ZaigaiRefused) as e:
        await svc.zaigai_checkin("900001", "11112222", "c", marks)
    assert e.value.code == "zaigai_card_mismatch"
    with pytest.raises(P.ZaigaiRefused):
        await svc.zaigai_checkin("900002", "87654321", "c", marks)  # 抹消
    assert svc.recent_checkins() == []
    ans = await svc.zaigai_checkin("900001", "12345678", "c", marks)
    assert ans.seq is not None and ans.provisional and ans.voter.name == "鈴木 一郎"
    assert [(b.contest, b.outcome) for b in ans.lines] == [
        ("shu", Outcome.HAND_OFFLINE), ("shinsa", Outcome.HAND_OFFLINE), ("governor", Outcome.REFUSED),
        ("mayor", Outcome.REFUSED)]
    assert ans.lines[2].reason == "在外選挙人は国政選挙だけです" and ans.lines[2].code == "zaigai_national_only"
    again = await svc.zaigai_checkin("900001", "12345678", "c", marks)
    assert again.seq is None
    assert [b.outcome for b in again.lines[:2]] == [Outcome.ALREADY_VOTED] * 2
    assert again.lines[0].where == "中区役所 期日前投票所" and again.lines[0].at is not None
    rows = svc.recent_checkins()
    assert [(r.seq, r.name, r.contest_names) for r in rows] == [
        (ans.seq, "在外 鈴木 一郎", ("衆議院小選挙区選出議員選挙", "最高裁判所裁判官国民審査"))]

    # the zaigai check-in was never marked shown: it is interrupted; marking it clears it
    assert [r.seq for r in svc.interrupted_checkins()] == [ans.seq]
    svc.mark_shown(ans.seq)
    assert svc.interrupted_checkins() == []
    ans2 = await svc.checkin("100001", "c", marks)
    assert ans2.seq is not None and [r.seq for r in svc.interrupted_checkins()] == [ans2.seq]
    svc.mark_shown(1)  # an older mark never moves it back
    assert [r.seq for r in svc.interrupted_checkins()] == [ans2.seq]
    svc.void(ans2.seq, "中断のため交付せず", "管理者")
    assert svc.interrupted_checkins() == []  # voided: nothing to ask

    svc.record_count("shu", 12, 1, "管理者")
    rep = svc.station_report()
    assert rep.by_hour == ((12, 1),) and rep.figures.zaigai == 1 and not rep.link.online
    assert [(c.contest, c.matched, c.issued) for c in rep.figures.contests][:2] == [("shu", 1, 1), ("shinsa", 1, None)]
    assert svc.station_state().is_open  # a report closes nothing
    with pytest.raises(MeiboError):
        svc.close_day("管理者", {"nope": (1, 1, 0)})
    with pytest.raises(MeiboError):
        svc.close_day("管理者", {"shu": (-1, 1, 0)})
    assert svc.station_state().is_open
    figs = svc.close_day("管理者", {"shu": (50, 1, 48), "shinsa": (50, 1, 49), "governor": (30, 0, 30),
                                   "mayor": (30, 0, 30)})
    assert [(c.contest, c.received, c.issued, c.left) for c in figs.contests] == [
        ("shu", 50, 1, 48), ("shinsa", 50, 1, 49), ("governor", 30, 0, 30), ("mayor", 30, 0, 30)]
    assert svc.station_state().state == "closed"
    with pytest.raises(MeiboError):
        svc.close_day("管理者")
