"""在外選挙人 at the kiosk: idle → 在外選挙人番号 on a digit pad → the voter (氏名, カナ, 和暦, 居住国) and
the 在外選挙人証番号 → 受付 → green with the national ballots only, in order; a second visit is the red
投票済 hard stop; errors are Japanese and change nothing; a day station hides and refuses it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from appliance import journal
from appliance import procedures as P
from appliance.eligibility import VotedInfo
from appliance.store import Store
from appliance.terminal import Terminal
from ground.clock import FixedClock
from ground.errors import IllegalTransition
from ground.events import EventKind
from tests.builders import EARLY_NOON, ELECTION_NOON, terminal_dir
from tests.builders_zaigai import GOOD
from tests.unit.ui_kivy.conftest import CONFIG, VOTERS
from tests.unit.ui_kivy.zaigai_data import install_zaigai, zaigai_voters
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.result import ResultKind
from ui_kivy.service import TerminalService


def _svc(station: str = "E01", **kw: object) -> FakeKioskService:
    svc = FakeKioskService(CONFIG, CONFIG.station(station), list(VOTERS), FixedClock(EARLY_NOON),
                           zaigai=zaigai_voters(), **kw)  # type: ignore[arg-type]
    svc.set_station("open", "管理者")
    return svc


def _type(flow: KioskFlow, digits: str) -> None:
    for d in digits:
        flow.zaigai_digit(d)


async def _check_in(flow: KioskFlow, zid: str = "900001", card: str = "12345678") -> None:
    flow.open_zaigai()
    _type(flow, zid)
    assert flow.zaigai_lookup()
    _type(flow, card)
    flow.choose_oath("work")
    await flow.zaigai_checkin()


async def test_zaigai_to_green_national_ballots_only() -> None:
    svc = _svc()
    flow = KioskFlow(svc, "係員A")
    flow.open_zaigai()
    assert flow.screen is Screen.ZAIGAI_ID
    _type(flow, "9000011")
    flow.zaigai_backspace()
    assert flow.zaigai.id_text == "在外選挙人番号: 900001"
    assert flow.zaigai_lookup() and flow.screen is Screen.ZAIGAI_CONFIRM
    shown = dict(flow.zaigai.details())
    assert shown == {"氏名": "鈴木 一郎", "カナ": "スズキ イチロウ", "生年月日": "昭和50年5月5日（51歳）",
                     "居住国": "アメリカ合衆国", "在外選挙人番号": "900001"}
    _type(flow, "12345678")
    assert flow.zaigai.card_text == "在外選挙人証番号: 12345678"
    assert not flow.can_zaigai_checkin  # early station: the 宣誓書事由 first
    assert await flow.zaigai_checkin() is None and flow.notice is not None and "宣誓書の事由" in flow.notice.text
    flow.choose_oath("work")
    r = await flow.zaigai_checkin()
    assert r is not None and flow.screen is Screen.RESULT
    assert (r.kind, r.title, r.colour) == (ResultKind.OK, "✓ 受付完了", "green")
    assert r.subtitle == "次の 2 枚をこの順に手渡してください"
    assert [h.text for h in r.hand] == ["1. 衆議院小選挙区選出議員選挙", "2. 最高裁判所裁判官国民審査"]
    assert [(w.text, w.reason) for w in r.withhold] == [("× 神奈川県知事選挙", "在外選挙人は国政選挙だけです"),
                                                        ("× 横浜市長選挙", "在外選挙人は国政選挙だけです")]
    assert r.voter_name == "鈴木 一郎" and r.seq is not None
    ev = svc.events[-1] if svc.events[-1].kind.value == "checkin" else svc.events[-2]
    assert ev.voter == "Z:900001" and ev.data["zaigai"] is True and ev.data["oath_reason"] == "work"
    flow.next_voter()
    assert flow.screen is Screen.IDLE and svc.meta["kiosk.last_shown_seq"] == str(r.seq)


async def test_second_visit_is_the_red_hard_stop_with_tentative() -> None:
    svc = _svc()
    flow = KioskFlow(svc, "係員A")
    await _check_in(flow)
    flow.next_voter()
    before = len(svc.events)
    await _check_in(flow)
    r = flow.result
    assert r is not None and r.kind is ResultKind.ALREADY_VOTED and r.title == "× 投票済 — 交付しない"
    assert [w.text for w in r.withhold if w.already_voted] == ["× 衆議院小選挙区選出議員選挙", "× 最高裁判所裁判官国民審査"]
    assert "中区役所 期日前投票所" in r.withhold[0].reason and "交付しないでください" in r.withhold[0].reason
    assert [a.label for a in r.actions] == ["次の方へ", "仮投票（管理者）"]
    assert len(svc.events) == before  # nothing recorded
    await flow.on_result_action("tentative")
    assert flow.tentative is not None and flow.tentative.voter_id == "Z:900001"


async def test_hq_already_voted_withholds_like_a_roll_checkin() -> None:
    svc = _svc()
    svc.hq_voted[("Z:900001", "shu")] = VotedInfo("E02", "T07", EARLY_NOON, 3)
    flow = KioskFlow(svc, "係員A")
    await _check_in(flow)
    r = flow.result
    assert r is not None and [h.name for h in r.hand] == ["最高裁判所裁判官国民審査"] and r.kind is ResultKind.MIXED
    assert any(w.already_voted and w.name == "衆議院小選挙区選出議員選挙" for w in r.withhold)
    assert [e.kind.value for e in svc.events[-2:]] == ["checkin", "withheld"]


async def test_errors_in_japanese_change_nothing() -> None:
    svc = _svc()
    flow = KioskFlow(svc, "係員A")
    before = len(svc.events)
    flow.open_zaigai()
    assert not flow.zaigai_lookup()
    assert flow.notice is not None and flow.notice.text == "在外選挙人番号を入力してください"
    _type(flow, "123")
    assert not flow.zaigai_lookup() and flow.screen is Screen.ZAIGAI_ID
    assert flow.zaigai.message == "× 在外選挙人番号 123 は在外選挙人名簿にありません"
    for _ in range(3):
        flow.zaigai_backspace()
    _type(flow, "900001")
    assert flow.zaigai_lookup()
    _type(flow, "11112222")
    flow.choose_oath("work")
    assert await flow.zaigai_checkin() is None
    assert flow.screen is Screen.ZAIGAI_CONFIRM and flow.zaigai.card_no == ""
    assert flow.notice is not None and "在外選挙人証の番号が名簿と一致しません" in flow.notice.text
    flow.back()
    assert flow.screen is Screen.ZAIGAI_ID
    for _ in range(6):
        flow.zaigai_backspace()
    _type(flow, "900002")
    assert flow.zaigai_lookup()  # shown, with the plain word that the voter was struck off
    assert flow.notice is not None and "抹消" in flow.notice.text
    _type(flow, "87654321")
    flow.choose_oath("work")
    assert await flow.zaigai_checkin() is None and "抹消されています" in flow.notice.text
    flow.on_barcode("x")  # no scan while a 在外選挙人 is on screen
    assert flow.screen is Screen.ZAIGAI_CONFIRM
    assert len(svc.events) == before


def test_day_station_hides_and_refuses() -> None:
    svc = _svc("D01")
    flow = KioskFlow(svc, "係員A")
    assert not svc.zaigai_allowed()
    flow.open_zaigai()
    assert flow.screen is Screen.IDLE and flow.notice is not None
    assert flow.notice.text.startswith("× この投票所では在外選挙人の投票を受け付けません")
    assert _svc("D01", zaigai_designated=("D01",)).zaigai_allowed()


async def test_terminal_service_records_first_then_awaits_hq(tmp_path: Path) -> None:
    """Through TerminalService: the check-in is in the journal (fsynced) before HQ is asked, and
    HQ's ALREADY_VOTED verdict withholds that ballot on the result, as for a roll check-in."""
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    store = Store(tdir.store_path)
    install_zaigai(store)
    store.close()
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    asked: list[tuple[int, list[str], str]] = []

    class StubAgent:  # the SyncAgent's resolve(): HQ answers ALREADY_VOTED for shu (handed at E02)
        online = asyncio.Event()

        async def resolve(self, seq: int, contests: list[str], budget_s: float | None = None) -> Any:
            ev = journal.entry(term.store, seq)
            assert ev is not None and ev.kind is EventKind.CHECKIN
            asked.append((seq, contests, ev.voter))
            term.record_withheld(seq, ["shu"])  # the real agent records the verdict before returning
            return SimpleNamespace(withheld=["shu"], provisional=False,
                                   verdicts=[SimpleNamespace(contest="shu", station="E02", hlc=0)])

        def status(self) -> dict[str, Any]:
            return {"online": True, "pending": 0, "last_contact": None}

    StubAgent.online.set()
    svc = TerminalService(term, StubAgent())
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    await _check_in(flow)
    r = flow.result
    assert asked == [(r.seq, ["shu", "shinsa"], "Z:900001")] if r is not None else False
    assert r is not None and r.kind is ResultKind.MIXED and [h.name for h in r.hand] == ["最高裁判所裁判官国民審査"]
    w = next(w for w in r.withhold if w.already_voted)
    assert w.name == "衆議院小選挙区選出議員選挙" and "交付しないでください" in w.reason
    assert P.station_figures(term).contests[0].matched == 0  # shu withheld: not a ballot of this station
    term.close()


async def test_alphanumeric_card_number_on_the_letter_keys() -> None:
    svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), FixedClock(EARLY_NOON),
                           zaigai=P.parse_zaigai_csv(GOOD.encode("utf-8")))
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    flow.open_zaigai()
    _type(flow, "900001")
    flow.zaigai_lookup()
    flow.zaigai_letters()
    assert flow.zaigai.letters
    flow.zaigai_digit("A")
    flow.zaigai_letters()  # back to the digits
    _type(flow, "1234567")
    assert flow.zaigai.card_text == "在外選挙人証番号: A1234567" and not flow.zaigai.letters
    flow.choose_oath("work")
    r = await flow.zaigai_checkin()
    assert r is not None and r.title == "✓ 受付完了"


async def test_late_already_voted_names_the_zaigai_voter() -> None:
    svc = _svc(online=False)
    flow = KioskFlow(svc, "係員A")
    await _check_in(flow)
    assert flow.result is not None and flow.result.title == "！ オフライン受付" and flow.result.seq is not None
    flow.next_voter()
    svc.push_late_alert(flow_seq := int(svc.meta["kiosk.last_shown_seq"]), "shu", "E02", EARLY_NOON)
    flow.tick()
    assert flow.alert is not None and flow.alert.seq == flow_seq
    assert flow.alert.body.startswith(f"受付 {flow_seq}（在外 鈴木 一郎）の 衆議院小選挙区選出議員選挙 は、関内駅前 期日前投票所")


async def test_real_day_station_not_designated_then_designated(tmp_path: Path) -> None:
    """On a real store: a day station takes no 在外選挙人 unless HQ's package designates it; the
    refusal is Japanese and records nothing."""
    tdir = terminal_dir(tmp_path / "t", VOTERS, station="D01")
    store = Store(tdir.store_path)
    install_zaigai(store)
    store.close()
    term = Terminal.open(tdir, FixedClock(ELECTION_NOON))
    svc = TerminalService(term)
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    assert not flow.zaigai_here
    flow.open_zaigai()
    assert flow.screen is Screen.IDLE and flow.notice is not None and "受け付けません" in flow.notice.text
    head = term.head().seq
    with pytest.raises(P.ZaigaiRefused) as e:
        await svc.zaigai_checkin("900001", "12345678", "c")
    assert e.value.code == "zaigai_station_not_designated" and term.head().seq == head
    install_zaigai(term.store, ("D01",))
    flow.open_supervisor()
    flow.back()  # back to 待受: the button is read again
    assert flow.zaigai_here
    await _check_in_no_oath(flow)  # no HQ link in this test: recorded, オフライン受付
    assert flow.result is not None and flow.result.title == "！ オフライン受付"
    assert [h.name for h in flow.result.hand] == ["衆議院小選挙区選出議員選挙", "最高裁判所裁判官国民審査"]
    term.close()


async def _check_in_no_oath(flow: KioskFlow) -> None:
    flow.open_zaigai()
    _type(flow, "900001")
    assert flow.zaigai_lookup() and not flow.marks.oath_required  # a day station: no 宣誓書
    _type(flow, "12345678")
    await flow.zaigai_checkin()


@pytest.fixture(params=["fake", "real"])
def zaigai_svc(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An open early station with the 在外選挙人名簿: the fake, and TerminalService over a real store."""
    if request.param == "fake":
        yield _svc(online=False)
        return
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    store = Store(tdir.store_path)
    with store.atomic() as c:
        store.set_meta(c, "roll_version", "1")
    install_zaigai(store)
    store.close()
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    svc = TerminalService(term)
    svc.set_station("open", "管理者")
    yield svc
    term.close()


def _entry_data(svc: Any, seq: int) -> dict[str, Any]:
    if isinstance(svc, FakeKioskService):
        return dict(next(e for e in svc.events if e.kind.value == "checkin" and e.seq == seq).data)

    ev = journal.entry(svc.term.store, seq)
    assert ev is not None
    return dict(ev.data)


async def test_zaigai_proxy_reaches_the_journal_and_the_figures(zaigai_svc: Any) -> None:
    """代理投票 checked on the 在外 confirm screen: the journal entry carries ``proxy`` and the 投票録
    figures (station report, then the closing) count it. A mark does not outlive the voter on screen."""
    svc = zaigai_svc
    flow = KioskFlow(svc, "係員A")
    flow.open_zaigai()
    with pytest.raises(IllegalTransition):
        flow.toggle_proxy()  # not on the 在外選挙人番号 pad: no voter yet
    _type(flow, "900001")
    assert flow.zaigai_lookup()
    flow.toggle_braille()
    assert flow.marks.braille
    flow.back()  # 戻る to the number pad, then the voter again: the marks start unchecked
    assert flow.zaigai_lookup() and not flow.marks.braille and not flow.marks.proxy
    flow.toggle_proxy()
    flow.toggle_braille()
    flow.toggle_braille()  # pressed twice: off again
    assert flow.marks.proxy and not flow.marks.braille
    _type(flow, "12345678")
    flow.choose_oath("work")
    r = await flow.zaigai_checkin()
    assert r is not None and r.seq is not None, flow.notice
    data = _entry_data(svc, r.seq)
    assert data.get("zaigai") is True and data.get("proxy") is True and "braille" not in data
    assert data.get("oath_reason") == "work"
    flow.next_voter()

    rep = svc.station_report()
    assert (rep.figures.zaigai, rep.figures.proxy, rep.figures.braille) == (1, 1, 0)
    figs = svc.close_day("管理者")
    assert (figs.voters, figs.zaigai, figs.proxy, figs.braille) == (1, 1, 1, 0)
    assert figs.oath_reasons == {"work": 1}


async def test_zaigai_braille_is_recorded() -> None:
    svc = _svc(online=False)
    flow = KioskFlow(svc, "係員A")
    flow.open_zaigai()
    _type(flow, "900001")
    assert flow.zaigai_lookup()
    flow.toggle_braille()
    _type(flow, "12345678")
    flow.choose_oath("work")
    r = await flow.zaigai_checkin()
    assert r is not None and r.seq is not None
    data = _entry_data(svc, r.seq)
    assert data.get("braille") is True and "proxy" not in data
    assert svc.station_report().figures.braille == 1
