"""Every screen at 1024×768 (the smallest panel we support): each button a touch target of at least
15 mm (90 px at ≈ 6 px/mm) both ways, and no text under 24 px. Rendered through the real widgets."""

from __future__ import annotations

from typing import Any

import pytest

from ui_kivy.rendered import frame, offscreen_env, run_rendered
from ui_kivy.screenshots import SHOTS, demo_flow

pytestmark = [pytest.mark.ui, pytest.mark.timeout(120)]

MIN_TOUCH = 90
MIN_TEXT = 24


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_every_screen_at_1024x768() -> None:
    flow, svc = demo_flow()
    problems: list[str] = []
    seen: list[str] = []
    measured: set[tuple[str, str]] = set()

    async def walk(root: Any) -> None:
        from kivy.uix.button import Button
        from kivy.uix.label import Label

        for name, step in SHOTS:
            got = step(flow, svc)
            if got is not None:
                await got
            await frame(3)
            seen.append(name)
            for w in root.shown():
                if isinstance(w, Button) and w.text and not w.disabled and w.opacity > 0:
                    measured.add((name, w.text))
                    if w.width < MIN_TOUCH or w.height < MIN_TOUCH:
                        problems.append(f"{name}: button {w.text!r} is {w.width:.0f}x{w.height:.0f}")
                if isinstance(w, Label) and w.text and w.font_size < MIN_TEXT:
                    problems.append(f"{name}: text {w.text[:20]!r} at {w.font_size}px")

    await run_rendered(flow, walk, size=(1024, 768))
    assert len(seen) == len(SHOTS)
    # the 在外 confirm screen's 代理/点字 toggles were measured, unchosen and chosen (the ● widens the text)
    assert {("19a_zaigai_card_letters", "代理投票"), ("19a_zaigai_card_letters", "点字投票"),
            ("19_zaigai_confirm", "● 代理投票"), ("19_zaigai_confirm", "点字投票")} <= measured
    assert problems == []
