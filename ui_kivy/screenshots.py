"""``python -m ui_kivy.screenshots DIR``: a PNG of every kiosk screen, rendered by the real widgets.

Runs offscreen (``SDL_VIDEODRIVER=offscreen``) at 1280×800 over the in-memory fake service and
the demo election (five contests), driving the flow by its intents as a poll worker would.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from appliance.atrest import PinWrong
from appliance.eligibility import VotedInfo
from ground.barcode import make_barcode
from ground.clock import JST, FixedClock
from ui_kivy.app import make_app, make_unlock_app, prepare_kivy
from ui_kivy.demo_data import DEMO_VOTERS, demo_config, demo_zaigai
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.unlock import UnlockPresenter
from ui_kivy.service import RadioInfo

NOW = datetime(2027, 4, 20, 14, 5, tzinfo=JST)


def demo_flow() -> tuple[KioskFlow, FakeKioskService]:
    cfg = demo_config()
    svc = FakeKioskService(cfg, cfg.station("E01"), list(DEMO_VOTERS), FixedClock(NOW), pin="1234")
    svc.set_station("open", "管理者 佐々木")
    svc.last_sync = NOW
    svc.zaigai = demo_zaigai()
    flow = KioskFlow(svc, "係員 田中")
    flow.on_enroll = lambda: None  # the app wires enrollment; the menu shows its button
    flow.set_radios([RadioInfo("lte1", True, 3, "NTT DOCOMO", True)])
    return flow, svc


Step = Callable[[KioskFlow, FakeKioskService], Awaitable[None] | None]


def _code(svc: FakeKioskService, vid: str) -> str:
    return make_barcode(vid, svc.config.barcode)


async def _checkin(f: KioskFlow) -> None:
    """受付 as the poll worker does it at an early station: the 宣誓書事由 first."""
    if f.marks.oath_required and f.confirm is not None and f.confirm.can_hand:
        f.choose_oath("work")
    await f.confirm_checkin()


async def _green(f: KioskFlow, s: FakeKioskService) -> None:
    f.on_barcode(_code(s, "100001"))
    await _checkin(f)


async def _red(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    f.on_barcode(_code(s, "100001"))
    await _checkin(f)


async def _tentative_form(f: KioskFlow, s: FakeKioskService) -> None:
    await f.on_result_action("tentative")
    f.tentative_decided_by("投票管理者")


def _tentative_done(f: KioskFlow, s: FakeKioskService) -> None:
    f.submit_tentative()


async def _amber(f: KioskFlow, s: FakeKioskService) -> None:
    f.leave_tentative() if f.screen is Screen.TENTATIVE else f.next_voter()
    s.online = False
    f.refresh_status()
    f.on_barcode(_code(s, "100002"))
    await _checkin(f)


async def _ineligible(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    s.online = True
    s.pending = 0
    f.on_barcode(_code(s, "100006"))
    await _checkin(f)


async def _mixed(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    s.hq_voted[("100004", "governor")] = VotedInfo("E02", "T07", datetime(2027, 4, 19, 10, 42, tzinfo=JST), 88)
    f.on_barcode(_code(s, "100004"))
    await _checkin(f)


def _late(f: KioskFlow, s: FakeKioskService) -> None:
    seq = next(e.seq for e in s.events if e.kind.value == "checkin" and e.voter == "100002")
    s.push_late_alert(seq, "shu", "E02", datetime(2027, 4, 20, 13, 58, tzinfo=JST))
    f.tick()


def _search(f: KioskFlow, s: FakeKioskService) -> None:
    f.acknowledge_alert()
    f.next_voter()
    f.open_search()
    for k in "ヤマダ":
        f.on_kana(k)


def _birth(f: KioskFlow, s: FakeKioskService) -> None:
    f.open_birth()
    f.birth_era("昭和")
    for d in "60":
        f.birth_digit(d)


async def _confirm_from_search(f: KioskFlow, s: FakeKioskService) -> None:
    s.absentee[("100003", "governor")] = "issued"  # holds 不在者投票 papers: warned, not blocked
    f.birth_apply()
    f.pick("100003")


def _confirm_oath(f: KioskFlow, s: FakeKioskService) -> None:
    f.choose_oath("travel")
    f.toggle_braille()


def _zaigai_number(f: KioskFlow, s: FakeKioskService) -> None:
    f.back()
    f.open_zaigai()
    for d in "900017":
        f.zaigai_digit(d)


def _zaigai_letters(f: KioskFlow, s: FakeKioskService) -> None:
    f.zaigai_lookup()
    f.zaigai_letters()
    f.zaigai_digit("A")


def _zaigai_confirm(f: KioskFlow, s: FakeKioskService) -> None:
    f.zaigai_letters()
    for d in "2027001":
        f.zaigai_digit(d)
    f.choose_oath("work")
    f.toggle_proxy()  # 代理投票 chosen: blue with a ●


async def _zaigai_green(f: KioskFlow, s: FakeKioskService) -> None:
    await f.zaigai_checkin()


def _declare_name(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    f.open_search()
    for k in "ワタナヘ":
        f.on_kana(k)
    f.on_kana("゛")
    f.show_results()
    f.declare_unlisted()
    for d in "1234":
        f.pin_digit(d)
    f.pin_submit()
    for k in ("空白", "ア", "キ", "ラ"):
        f.declare_kana(k)


def _declare_birth(f: KioskFlow, s: FakeKioskService) -> None:
    f.declare_name_done()
    f.declare_era("昭和")
    for d in "480312":
        f.declare_digit(d)


def _declared_form(f: KioskFlow, s: FakeKioskService) -> None:
    f.declare_done()
    f.tentative_reason("supervisor_refusal")
    f.tentative_decided_by("投票管理者")
    for c in ("shu", "hirei", "shinsa"):
        f.tentative_toggle(c)


def _pin(f: KioskFlow, s: FakeKioskService) -> None:
    f.back()
    f.open_supervisor()
    for d in "12":
        f.pin_digit(d)


def _menu(f: KioskFlow, s: FakeKioskService) -> None:
    for d in "34":
        f.pin_digit(d)
    f.pin_submit()


def _void(f: KioskFlow, s: FakeKioskService) -> None:
    f.open_void()
    rows = s.recent_checkins()
    f.void_select(rows[-1].seq)
    f.void_reason("投票せずに帰った")


def _counts(f: KioskFlow, s: FakeKioskService) -> None:
    f.back()
    f.open_counts()
    f.enter_hourly_count("shu", 3)
    f.enter_hourly_count("hirei", 4)
    f.counts_select("shinsa")
    f.counts_digit("3")


def _opening(f: KioskFlow, s: FakeKioskService) -> None:
    f.back()
    s.hq_roll_version = 2  # HQ has a newer roll than this terminal: a red mismatch naming both
    f.show_opening()


def _report(f: KioskFlow, s: FakeKioskService) -> None:
    f.back()
    f.open_supervisor()
    for d in "1234":
        f.pin_digit(d)
    f.pin_submit()
    f.open_report()


def _type_cell(f: KioskFlow, contest: str, field: int, n: int) -> None:
    f.closing_select(contest, field)
    row = next(r for r in f.close_entry.rows if r.contest == contest)
    for _ in row.values[field]:
        f.closing_backspace()
    for d in str(n):
        f.closing_digit(d)


def _closing_entry(f: KioskFlow, s: FakeKioskService) -> None:
    f.back()
    f.close_station()
    for contest, nums in (("shu", (500, 3, 497)), ("hirei", (500, 4, 495))):
        for i, n in enumerate(nums):
            _type_cell(f, contest, i, n)
    _type_cell(f, "shinsa", 0, 30)


def _closing(f: KioskFlow, s: FakeKioskService) -> None:
    """Every figure in; 国民審査 is one ballot short (300 − 3 − 296 = 1): flagged in words."""
    for contest, nums in (("shinsa", (300, 3, 296)), ("governor", (400, 3, 397)), ("mayor", (400, 3, 397))):
        for i, n in enumerate(nums):
            _type_cell(f, contest, i, n)
    f.submit_closing()


async def _interrupted(f: KioskFlow, s: FakeKioskService) -> None:
    """As after a restart: a check-in recorded whose result never reached the screen."""
    f.back()
    f.back()
    s.set_station("open", "管理者 佐々木")
    await s.checkin("100005", "係員 田中", {"oath_reason": "work"})
    f.check_interrupted()
    f.refresh_status()


def _names_search(f: KioskFlow, s: FakeKioskService) -> None:
    """Names as registered (issue 19): an IVS drawn with its variant, a 外字 as 〓 with the kana."""
    f.interrupted_handed()  # back on 待受
    f.open_search()
    for k in "カツラギ":
        f.on_kana(k)
    f.show_results()


def _age_check(f: KioskFlow, s: FakeKioskService) -> None:
    """年齢確認: 生年月日 不詳 (平成21年), the ID buttons before the 宣誓書事由."""
    f.pick("100008")


SHOTS: list[tuple[str, Step]] = [
    ("01_idle", lambda f, s: None),
    ("06_result_green_ok", _green),
    ("07_result_red_already_voted", _red),
    ("07b_tentative_form", _tentative_form),
    ("07c_tentative_recorded", _tentative_done),
    ("08_result_amber_offline", _amber),
    ("09_result_red_ineligible", _ineligible),
    ("10_result_mixed", _mixed),
    ("11_late_alert", _late),
    ("02_search_kana", _search),
    ("03_search_results", lambda f, s: f.show_results()),
    ("04_search_birth", _birth),
    ("05_confirm", _confirm_from_search),
    ("05b_confirm_oath_chosen", _confirm_oath),
    ("18_zaigai_number", _zaigai_number),
    ("19a_zaigai_card_letters", _zaigai_letters),
    ("19_zaigai_confirm", _zaigai_confirm),
    ("20_zaigai_result_green", _zaigai_green),
    ("21_declared_name_kana", _declare_name),
    ("22_declared_birth", _declare_birth),
    ("23_declared_tentative_form", _declared_form),
    ("12_supervisor_pin", _pin),
    ("13_supervisor_menu", _menu),
    ("14_supervisor_void", _void),
    ("15_supervisor_hourly_count", _counts),
    ("16_opening_check_mismatch", _opening),
    ("24_station_report", _report),
    ("25_closing_entry", _closing_entry),
    ("17_closing_figures", _closing),
    ("26_interrupted_checkin", _interrupted),
    ("27_search_names_as_registered", _names_search),
    ("28_confirm_age_check", _age_check),
]


async def write_all(out: Path, size: tuple[int, int] = (1280, 800)) -> list[Path]:
    font = prepare_kivy(size)
    flow, svc = demo_flow()
    app = make_app(flow, font, tick_s=3600)
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)

    async def script() -> None:
        from kivy.core.window import Window  # lazy: opens the window, once the app runs

        try:
            await asyncio.sleep(0.3)
            Window.size = size
            for name, step in SHOTS:
                got = step(flow, svc)
                if got is not None:
                    await got
                await asyncio.sleep(0.15)
                path = out / f"{name}.png"
                app.root.export_to_png(str(path))
                written.append(path)
        finally:
            app.stop()

    task = asyncio.ensure_future(script())
    await app.async_run(async_lib="asyncio")
    await task
    return written


class _DemoUnlock:
    """A PIN port for the screenshot: the first PIN tried is wrong (tries left shown)."""

    def unlock(self, pin: str) -> None:
        raise PinWrong("PIN が違います（あと 9 回まで）", tries_left=9)


async def write_unlock(out: Path, size: tuple[int, int] = (1280, 800)) -> Path:
    font = prepare_kivy(size)
    unlock = UnlockPresenter(_DemoUnlock(), "中区役所 期日前投票所")
    app = make_unlock_app(unlock, font)
    path = out / "00_station_unlock.png"

    async def script() -> None:
        from kivy.core.window import Window  # lazy: opens the window, once the app runs

        try:
            await asyncio.sleep(0.3)
            Window.size = size
            for d in "1357":
                unlock.digit(d)
            unlock.submit()  # wrong: the tries left are shown
            await asyncio.sleep(0.15)
            app.root.export_to_png(str(path))
        finally:
            app.stop()

    task = asyncio.ensure_future(script())
    await app.async_run(async_lib="asyncio")
    await task
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/screenshots")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="meibo-kivy-"))
    paths = asyncio.run(write_all(out))
    paths.insert(0, asyncio.run(write_unlock(out)))
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
