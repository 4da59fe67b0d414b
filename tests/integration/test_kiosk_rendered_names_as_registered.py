"""Rendered kiosk (real widgets, offscreen) on a real terminal store: names exactly as registered
(issue 19). A name with an IVS is drawn with its variant glyph on the confirm screen and in the
search results; a 外字 is drawn as 〓 with the kana beside it, on the confirm screen and the result.

Kivy's SDL2 text provider shapes with HarfBuzz, which reads IPAmj明朝's variation table. The
pixels prove it: 葛 + U+E0102 is the glyph mj022335 and differs from plain 葛 (mj022336); 葛 +
U+E0103 names mj022336 again and must draw exactly like plain 葛 (so the difference is the font's
table, not noise); 葛 + U+E01EF, a sequence the font lacks, must also draw like plain 葛 (the
selector is never a box). Without the name font the first two draw alike (IPAex Gothic has no
variants): the test fails then."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from appliance.terminal import Terminal, write_pin
from ground.clock import FixedClock
from ground.names import GAIJI_MARK
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir, voter
from tests.unit.ui_kivy.conftest import barcode, check_in
from ui_kivy.fonts import NAME_FONT
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered, until
from ui_kivy.service import TerminalService

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]

KANA = "カツラギ イチロウ"
NAMES = {"variant": ("200001", "葛\U000E0102城 一郎"), "plain": ("200002", "葛城 一郎"),
         "default": ("200003", "葛\U000E0103城 一郎"), "missing": ("200004", "葛\U000E01EF城 一郎")}
GAIJI = ("200005", "山\ue000 花子", "ヤマザキ ハナコ")


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


def names_flow(tmp_path: Path) -> tuple[KioskFlow, Terminal]:
    voters = [voter(vid, name=n, name_kana=KANA) for vid, n in NAMES.values()]
    voters.append(voter(GAIJI[0], name=GAIJI[1], name_kana=GAIJI[2]))
    tdir = terminal_dir(tmp_path / "t", voters)
    write_pin(tdir, TEST_PIN)
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    with term.store.atomic() as c:
        term.store.set_meta(c, "roll_version", "1")
    svc = TerminalService(term)
    svc.set_station("open", "管理者")
    return KioskFlow(svc, "係員A"), term


def name_label(root: Any) -> Any:
    from kivy.uix.label import Label

    hits = [w for w in root.shown() if isinstance(w, Label) and w.font_name == NAME_FONT]
    assert len(hits) == 1, [w.text for w in hits]
    return hits[0]


async def test_ivs_variant_drawn_and_gaiji_shown_as_geta_with_kana(tmp_path: Path) -> None:
    flow, term = names_flow(tmp_path)

    async def script(root: Any) -> None:
        from kivy.core.text import Label as CoreLabel
        from kivy.uix.button import Button

        confirm: dict[str, str] = {}
        for key, (vid, _) in NAMES.items():
            flow.on_barcode(barcode(vid))
            await frame()
            assert flow.screen is Screen.CONFIRM
            label = name_label(root)
            confirm[key] = hashlib.sha256(label.texture.pixels).hexdigest()
            flow.back()
            await frame()
        assert confirm["variant"] != confirm["plain"]
        assert confirm["default"] == confirm["plain"]
        assert confirm["missing"] == confirm["plain"]

        flow.open_search()
        for k in "カツラギ":
            flow.on_kana(k)
        flow.show_results()
        await until(lambda: flow.screen is Screen.RESULTS and len(flow.search.state.rows) == 4)
        rows = {}
        for key, (_, n) in NAMES.items():
            (b,) = [w for w in root.shown() if isinstance(w, Button) and f"]{n}[/font]" in w.text]
            rows[key] = hashlib.sha256(b.texture.pixels).hexdigest()
        assert rows["variant"] != rows["plain"]
        assert rows["default"] == rows["plain"] and rows["missing"] == rows["plain"]
        flow.back()
        flow.back()
        await frame()

        shown = f"山{GAIJI_MARK} 花子（{GAIJI[2]}）"
        flow.on_barcode(barcode(GAIJI[0]))
        await frame()
        assert name_label(root).text == f"[b]{shown}[/b]"
        mark = CoreLabel(text=GAIJI_MARK, font_name=NAME_FONT, font_size=40)
        mark.refresh()
        assert any(mark.texture.pixels[3::4]), "〓 must be drawn, never a blank"
        r = await check_in(flow)
        assert r is not None and flow.screen is Screen.RESULT
        await frame()
        assert f"[font={NAME_FONT}]{shown}[/font] 様" in root.banner.subtitle

    await run_rendered(flow, script)
    stored = term.store.conn.execute("SELECT name FROM voters WHERE voter_id = ?", (GAIJI[0],)).fetchone()[0]
    assert stored.encode("utf-8") == GAIJI[1].encode("utf-8")  # only the display substituted
    term.close()
