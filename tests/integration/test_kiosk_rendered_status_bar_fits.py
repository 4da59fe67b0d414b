"""Rendered kiosk (real offscreen Kivy window): the status bar (ステータスバー) at 1280×800 and at
1024×768, online and offline, with the longest realistic texts (an IPv6 HQ address, a long LTE
operator name and スキャナ 未接続, 未送信 9999 件, a two-digit date): every item's box lies inside
the window and meets no other item's, its drawn text fits its box, and the figures (clock,
最終同期, 未送信) are never shortened. Before slice 12 the texts spilled over each other and the
clock ran off the right edge; this test fails on that layout."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ground.clock import FixedClock
from tests.builders import jst
from ui_kivy.presenters.status import StatusState
from ui_kivy.rendered import frame, offscreen_env, run_rendered
from ui_kivy.screenshots import demo_flow
from ui_kivy.service import RadioInfo

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]

WHOLE = ("clock", "pending", "last_sync")  # figures: shown whole or they are wrong
LONGEST = StatusState(False, "× 本部: オフライン（再接続まで30秒）", "LTE ■■■□ SoftBank Corp. MVNO ！閉域APN外  × スキャナ 未接続",
                      "最終同期 23:59:59", "未送信 9999 件", True, "12/31 23:59", "", "本部: [2001:db8::10]:8443")


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


def bar_problems(root: Any, what: str) -> list[str]:
    from kivy.core.window import Window

    from ui_kivy.views.widgets import text_width

    bar = root.status
    items = {n: w for n, w in bar.ids.items() if getattr(w, "text", "")}
    problems: list[str] = []
    boxes = {}
    for n, w in items.items():
        x0, y0 = w.to_window(w.x, w.y)
        x1, y1 = x0 + w.width, y0 + w.height
        boxes[n] = (x0, y0, x1, y1)
        if x0 < 0 or y0 < 0 or x1 > Window.width or y1 > Window.height:
            problems.append(f"{what}: {n} {w.text!r} at {(x0, y0, x1, y1)} leaves the {Window.size} window")
        if w.texture_size[0] > w.width + 1 or w.texture_size[1] > w.height + 1:
            problems.append(f"{what}: {n} {w.text!r} draws {w.texture_size} in a {w.size} box")
        if n in WHOLE and text_width(w.text, w.font_size, w.font_name) > w.width + 1:
            problems.append(f"{what}: {n} {w.text!r} is shortened")
        if w.width < 40:
            problems.append(f"{what}: {n} {w.text!r} squeezed to {w.width:.0f} px")
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ax0, ay0, ax1, ay1 = boxes[a]
            bx0, by0, bx1, by1 = boxes[b]
            if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
                problems.append(f"{what}: {a} {boxes[a]} overlaps {b} {boxes[b]}")
    return problems


@pytest.mark.parametrize("size", [(1280, 800), (1024, 768)])
async def test_status_bar_items_never_overlap(size: tuple[int, int]) -> None:
    flow, svc = demo_flow()
    svc.config = replace(svc.config, hq_address="[2001:db8::10]:8443")
    svc.clock = FixedClock(jst(2026, 12, 31, 23, 59))  # the widest date: 12/31
    svc.pending = 9999
    problems: list[str] = []
    checked: list[str] = []

    async def look(root: Any) -> None:
        for online in (True, False):
            svc.online = online
            flow.scanner_connected = False
            flow.set_radios([RadioInfo("lte1", True, 4, "SoftBank Corp. MVNO", False)])  # redraws the bar
            await frame(3)
            assert ("● 本部: 接続中" if online else "× 本部: 未接続（オフライン）") in root.texts()
            assert "本部: [2001:db8::10]:8443" in root.texts() and "未送信 9999 件" in root.texts()
            assert "LTE ■■■■ SoftBank Corp. MVNO ！閉域APN外  × スキャナ 未接続" in root.texts()
            problems.extend(bar_problems(root, f"{size} online={online}"))
            checked.append(f"online={online}")
        root.status.show(LONGEST)  # the longest texts the bar must take; the tick redraws only in an hour
        await frame(3)
        assert "× 本部: オフライン（再接続まで30秒）" in root.texts()
        problems.extend(bar_problems(root, f"{size} longest"))
        checked.append("longest")

    await run_rendered(flow, look, size=size, tick_s=3600)
    assert checked == ["online=True", "online=False", "longest"]
    assert problems == []


def test_items_give_way_in_order_and_figures_never() -> None:
    from ui_kivy.views.widgets import fit_widths

    natural = {"clock": 130, "pending": 170, "last_sync": 210, "signal": 300, "hq_node": 200, "link": 300}
    assert fit_widths(natural, 2000) == natural
    got = fit_widths(natural, sum(natural.values()) - 200, {"signal": 150})
    assert got == {**natural, "signal": 150, "hq_node": 150}  # LTE down to its bars, then the node
    tight = fit_widths(natural, 600, {"signal": 150})
    assert {k: tight[k] for k in ("clock", "pending", "last_sync")} == {"clock": 130, "pending": 170, "last_sync": 210}
    assert sum(tight.values()) <= 600 and min(tight.values()) >= 0
