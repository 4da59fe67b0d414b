"""Rendered kiosk (real widgets, offscreen) on a real terminal store: the supervisor's void list
(受付の取消) draws names as registered, like the confirm and search screens (slice 12): each row's
name, selector kept, is set in the name font (the font that draws 葛 + U+E0102 as its variant
glyph: test_kiosk_rendered_names_as_registered proves that by pixels), and a 外字 shows as 〓 with
the カナ. Rows differ by their 受付 number, so their pixels are not compared here; a row's drawn
text is checked to be non-empty. Before slice 12 the rows were in the default font, without kana."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ground.names import GAIJI_MARK
from tests.builders import TEST_PIN
from tests.integration.test_kiosk_rendered_names_as_registered import GAIJI, NAMES, names_flow
from tests.unit.ui_kivy.conftest import barcode, check_in
from ui_kivy.fonts import NAME_FONT
from ui_kivy.presenters.app_flow import Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_void_rows_draw_ivs_variants_and_gaiji_with_kana(tmp_path: Path) -> None:
    flow, term = names_flow(tmp_path)
    picked = {k: NAMES[k] for k in ("variant", "plain", "default")}

    async def script(root: Any) -> None:
        from kivy.uix.button import Button

        for vid in [v for v, _ in picked.values()] + [GAIJI[0]]:
            flow.on_barcode(barcode(vid))
            await frame()
            assert await check_in(flow) is not None
            flow.next_voter()
        flow.open_supervisor()
        for d in TEST_PIN:
            flow.pin_digit(d)
        assert flow.pin_submit()
        flow.open_void()
        await frame(3)
        assert flow.screen is Screen.VOID and len(flow.void_state.rows) == 4
        for _, n in picked.values():
            (b,) = [w for w in root.shown() if isinstance(w, Button) and f"[font={NAME_FONT}]{n}[/font]" in w.text]
            assert b.markup and any(b.texture.pixels[3::4])
        shown = f"山{GAIJI_MARK} 花子（{GAIJI[2]}）"
        assert [w for w in root.shown() if isinstance(w, Button) and f"[font={NAME_FONT}]{shown}[/font]" in w.text]
        assert any(shown in r.text for r in flow.void_state.rows)  # the presenter's text has the kana too

    await run_rendered(flow, script)
    term.close()
