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
from pathlib import Path
from typing import Any

from appliance.clock import FixedClock
from appliance.eligibility import VotedInfo
from appliance.barcode import make_barcode
from ui_kivy.app import make_app, prepare_kivy
from ui_kivy.demo_data import DEMO_VOTERS, demo_config
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow
from ui_kivy.service import RadioInfo

from datetime import datetime
from appliance.clock import JST

NOW = datetime(2027, 4, 20, 14, 5, tzinfo=JST)


def demo_flow() -> tuple[KioskFlow, FakeKioskService]:
    cfg = demo_config()
    svc = FakeKioskService(cfg, cfg.station("E01"), list(DEMO_VOTERS), FixedClock(NOW), pin="1234")
    svc.set_station("open", "管理者 佐々木")
    svc.last_sync = NOW
    flow = KioskFlow(svc, "係員 田中")
    flow.set_radios([RadioInfo("lte1", True, 3, "NTT DOCOMO", True)])
    return flow, svc


Step = Callable[[KioskFlow, FakeKioskService], Awaitable[None] | None]


def _code(svc: FakeKioskService, vid: str) -> str:
    return make_barcode(vid, svc.config.barcode)


async def _green(f: KioskFlow, s: FakeKioskService) -> None:
    f.on_barcode(_code(s, "100001"))
    await f.confirm_checkin()


async def _red(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    f.on_barcode(_code(s, "100001"))
    await f.confirm_checkin()


async def _amber(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    s.online = False
    f.refresh_status()
    f.on_barcode(_code(s, "100002"))
    await f.confirm_checkin()


async def _ineligible(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    s.online = True
    s.pending = 0
    f.on_barcode(_code(s, "100006"))
    await f.confirm_checkin()


async def _mixed(f: KioskFlow, s: FakeKioskService) -> None:
    f.next_voter()
    s.hq_voted[("100004", "governor")] = VotedInfo("E02", "T07", datetime(2027, 4, 19, 10, 42, tzinfo=JST), 88)
    f.on_barcode(_code(s, "100004"))
    await f.confirm_checkin()


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
    f.birth_apply()
    f.pick("100003")


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


SHOTS: list[tuple[str, Step]] = [
    ("01_idle", lambda f, s: None),
    ("06_result_green_ok", _green),
    ("07_result_red_already_voted", _red),
    ("08_result_amber_offline", _amber),
    ("09_result_red_ineligible", _ineligible),
    ("10_result_mixed", _mixed),
    ("11_late_alert", _late),
    ("02_search_kana", _search),
    ("03_search_results", lambda f, s: f.show_results()),
    ("04_search_birth", _birth),
    ("05_confirm", _confirm_from_search),
    ("12_supervisor_pin", _pin),
    ("13_supervisor_menu", _menu),
    ("14_supervisor_void", _void),
    ("15_supervisor_hourly_count", _counts),
]


async def write_all(out: Path, size: tuple[int, int] = (1280, 800)) -> list[Path]:
    font = prepare_kivy(size)
    flow, svc = demo_flow()
    app = make_app(flow, font, tick_s=3600)
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)

    async def script() -> None:
        from kivy.core.window import Window

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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/screenshots")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="meibo-kivy-"))
    paths = asyncio.run(write_all(out))
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
