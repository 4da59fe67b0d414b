from datetime import timedelta

from ground.clock import FixedClock
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen

from tests.unit.ui_kivy.conftest import barcode, check_in, close_balanced
from appliance.eligibility import VotedInfo


def _pin(flow: KioskFlow, pin: str) -> bool:
    for d in pin:
        flow.pin_digit(d)
    return flow.pin_submit()


def test_wrong_pin_then_lockout_then_right(flow: KioskFlow, clock: FixedClock) -> None:
    flow.open_supervisor()
    assert flow.screen is Screen.PIN
    flow.pin_digit("9")
    assert flow.pin.state.masked == "●"
    flow.pin_backspace()
    assert not _pin(flow, "0000")
    assert flow.pin.state.message == "PIN が違います（あと 2 回）" and flow.screen is Screen.PIN
    assert not _pin(flow, "1111")
    assert not _pin(flow, "2222")
    assert "まで入力できません" in flow.pin.state.message
    assert not _pin(flow, "1234")  # right PIN, but locked
    clock.set(clock.now() + timedelta(seconds=61))
    assert _pin(flow, "1234")
    assert flow.screen is Screen.MENU
    assert flow.menu.station_text.startswith("中区役所 期日前投票所: 開設中")


def test_close_and_reopen_station(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.open_supervisor()
    _pin(flow, "1234")
    assert flow.menu.can_close and not flow.menu.can_open
    flow.close_station()
    assert flow.screen is Screen.CLOSE_ENTRY and service.station_state().is_open  # nothing closed yet
    assert close_balanced(flow)
    assert flow.notice is not None and "閉鎖しました" in flow.notice.text
    assert flow.screen is Screen.CLOSING and flow.closing is not None
    assert flow.closing.title.startswith("✓ 閉鎖しました") and any("名簿対照数" in x for x in flow.closing.lines)
    assert flow.menu.can_open and "閉鎖済み" in flow.menu.station_text
    flow.back()
    assert flow.screen is Screen.MENU
    flow.back()
    assert flow.screen is Screen.IDLE and not flow.idle.station_open
    flow.on_barcode(barcode("100001"))
    assert flow.screen is Screen.IDLE and flow.notice is not None
    flow.open_supervisor()
    _pin(flow, "1234")
    flow.open_station()
    assert [e.data["action"] for e in service.events if e.kind.value == "station"] == ["open", "close", "open"]
    flow.close_station()
    assert close_balanced(flow)
    flow.back()
    flow.close_station()  # twice: refused, nothing appended
    assert flow.notice is not None and flow.notice.level == "error"
    assert [e.data["action"] for e in service.events if e.kind.value == "station"] == ["open", "close", "open", "close"]


async def test_void_with_reason_releases_the_ballots(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None
    flow.next_voter()
    flow.open_supervisor()
    _pin(flow, "1234")
    flow.open_void()
    assert flow.screen is Screen.VOID and len(flow.void_state.rows) == 1
    assert "山田 太郎" in flow.void_state.rows[0].text
    assert not flow.void()  # nothing chosen
    flow.void_select(r.seq or 0)
    assert not flow.void_state.can_void
    flow.void_reason("投票せずに帰った")
    assert flow.void_state.can_void
    assert flow.void()
    assert "取り消しました" in (flow.notice.text if flow.notice else "")
    assert flow.void_state.rows[0].voided and "（取消済）" in flow.void_state.rows[0].text
    assert service.events[-1].data["reason"] == "投票せずに帰った"
    flow.back()
    flow.back()
    flow.on_barcode(barcode("100001"))  # released: can be checked in again
    assert flow.confirm is not None and flow.confirm.can_hand


async def test_hourly_count_difference_is_highlighted(flow: KioskFlow) -> None:
    for vid in ("100001", "100002", "100004"):
        flow.on_barcode(barcode(vid))
        await check_in(flow)
        flow.next_voter()
    flow.open_supervisor()
    _pin(flow, "1234")
    flow.open_counts()
    cs = flow.counts_state
    assert cs.hour == 12 and [r.recorded_text for r in cs.rows] == ["名簿対照数 3"] * 4
    assert all(r.issued_text == "交付数 未入力" for r in cs.rows)
    flow.counts_select("shu")
    for d in "3":
        flow.counts_digit(d)
    assert flow.counts_state.rows[0].issued_text == "交付数 3（入力中）"
    assert flow.enter_hourly_count()
    row = flow.counts_state.rows[0]
    assert row.diff_text == "○ 一致" and not row.mismatch
    assert flow.enter_hourly_count("shinsa", 4)
    row = flow.counts_state.rows[1]
    assert row.mismatch and row.diff_text == "！ 不一致 差 +1（交付数が多い）"
    assert flow.notice is not None and flow.notice.level == "error" and "不一致" in flow.notice.text
    assert flow.enter_hourly_count("governor", 2)
    assert flow.counts_state.rows[2].diff_text == "！ 不一致 差 -1（交付数が少ない）"


async def test_counts_exclude_voided_and_withheld(flow: KioskFlow, service: FakeKioskService) -> None:
    service.hq_voted[("100002", "mayor")] = VotedInfo("E02", "T02", None, 3)
    for vid in ("100001", "100002"):
        flow.on_barcode(barcode(vid))
        await check_in(flow)
        flow.next_voter()
    first = next(e.seq for e in service.events if e.kind.value == "checkin")
    service.void(first, "投票せずに帰った", "管理者")
    assert [(r.contest, r.recorded) for r in service.counts()] == [("shu", 1), ("shinsa", 1), ("governor", 1),
                                                                    ("mayor", 0)]
