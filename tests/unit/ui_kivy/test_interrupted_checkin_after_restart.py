"""A check-in recorded but whose result was never shown (the kiosk stopped in between) is asked about
at the next start, before anything else: 交付した keeps it; 交付していない voids it (中断のため交付せず)
behind the supervisor PIN. The shown mark is local store meta written after display, never synced."""

from __future__ import annotations

from pathlib import Path

from ground.clock import FixedClock
from ground.events import EventKind, decode
from appliance.terminal import Terminal, write_pin
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir
from tests.unit.ui_kivy.conftest import CONFIG, VOTERS, barcode, check_in
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.service import META_LAST_SHOWN, Outcome, TerminalService

PROMPT = "受付 {seq}（{name} 12:00）は結果を表示する前に中断されました。投票用紙を交付しましたか？"


async def test_real_store_restart_prompt_then_void_behind_pin(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    write_pin(tdir, TEST_PIN)
    clock = FixedClock(EARLY_NOON)
    term = Terminal.open(tdir, clock)
    with term.store.atomic() as c:  # the builder puts voters in directly; lookups want an installed roll
        term.store.set_meta(c, "roll_version", "1")
    svc = TerminalService(term)
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    assert flow.screen is Screen.IDLE and term.store.get_meta(META_LAST_SHOWN) == "0"
    flow.on_barcode(barcode("100001"))
    shown = await check_in(flow)
    assert shown is not None and flow.unshown_seq == shown.seq
    flow.result_shown()  # the view calls this once the frame with the result was drawn
    assert term.store.get_meta(META_LAST_SHOWN) == str(shown.seq)
    flow.next_voter()
    flow.on_barcode(barcode("100002"))
    lost = await check_in(flow)  # recorded … and the kiosk dies before the frame is drawn
    assert lost is not None and lost.seq is not None
    kinds = [k for (k,) in term.store.conn.execute("SELECT kind FROM journal")]
    term.close()

    term = Terminal.open(tdir, clock)  # restart
    assert [k for (k,) in term.store.conn.execute("SELECT kind FROM journal")] == kinds  # the mark is not an entry
    svc = TerminalService(term)
    flow = KioskFlow(svc, "係員B")
    it = flow.interrupted
    assert flow.screen is Screen.INTERRUPTED and it is not None
    assert it.prompt == PROMPT.format(seq=lost.seq, name="山田 花子")
    assert it.detail.startswith("投票用紙: 衆議院小選挙区選出議員選挙・")
    flow.on_barcode(barcode("100003"))
    assert flow.screen is Screen.INTERRUPTED and flow.notice is not None and "中断された受付の確認が先です" in flow.notice.text
    flow.interrupted_not_handed()
    assert flow.screen is Screen.PIN
    flow.back()  # not now: back to the question, not to the kiosk
    assert flow.screen is Screen.INTERRUPTED
    flow.interrupted_not_handed()
    for d in "0000":
        flow.pin_digit(d)
    assert not flow.pin_submit() and flow.screen is Screen.PIN
    for d in TEST_PIN:
        flow.pin_digit(d)
    assert flow.pin_submit()
    assert flow.screen is Screen.IDLE and flow.notice is not None
    assert flow.notice.text == f"受付 {lost.seq} を取り消しました（理由: 中断のため交付せず）"
    evs = [decode(bytes(b)) for (b,) in term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
    voids = [e for e in evs if e.kind is EventKind.VOID]
    assert [(e.ref, e.data["reason"]) for e in voids] == [(lost.seq, "中断のため交付せず")]
    assert all(b.outcome is Outcome.HAND for b in svc.preview("100002"))  # the ballots are free again
    term.close()

    term = Terminal.open(tdir, clock)  # and once settled, the next start asks nothing
    flow = KioskFlow(TerminalService(term), "係員B")
    assert flow.screen is Screen.IDLE and flow.interrupted is None
    term.close()


async def test_handed_keeps_it_and_the_opening_check_waits() -> None:
    svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), FixedClock(EARLY_NOON))
    svc.set_station("open", "管理者")
    first = KioskFlow(svc, "係員A")
    for vid in ("100001", "100002"):
        first.on_barcode(barcode(vid))
        await check_in(first)
        first.unshown_seq = None  # stopped before drawing, twice (the second after a restart)
        first.screen = Screen.IDLE
        first.confirm = first.result = None
    svc.set_station("close", "管理者")  # closed overnight, say: the app shows the opening check at start
    flow = KioskFlow(svc, "係員A")
    assert flow.screen is Screen.INTERRUPTED and flow.interrupted is not None and flow.interrupted.left == 2
    assert "（確認が必要な受付はあと 2 件）" in flow.interrupted.detail
    flow.show_opening()  # what the app does when the station is not open: it waits
    assert flow.screen is Screen.INTERRUPTED
    n = len(svc.events)
    flow.interrupted_handed()
    assert flow.screen is Screen.INTERRUPTED and flow.interrupted is not None and flow.interrupted.left == 1
    assert "山田 花子" in flow.interrupted.prompt
    flow.interrupted_handed()
    assert flow.screen is Screen.OPENING and flow.opening is not None
    assert len(svc.events) == n  # kept: nothing written to the journal
    assert KioskFlow(svc, "係員A").screen is Screen.IDLE


async def test_leaving_the_result_marks_it_shown(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None and flow.unshown_seq == r.seq and service.meta["kiosk.last_shown_seq"] == "0"
    flow.next_voter()
    assert flow.unshown_seq is None and service.meta["kiosk.last_shown_seq"] == str(r.seq)
