"""Rendered station unlock (real widgets, offscreen) over a real sealed key: a locked terminal's PIN
pad says the tries left after a wrong PIN, opens with the right one, and the store then opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance import atrest
from ground.clock import FixedClock
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir
from tests.unit.ui_kivy.conftest import VOTERS
from ui_kivy.presenters.unlock import AtRestUnlock, UnlockPresenter, needs_unlock
from ui_kivy.rendered import frame, offscreen_env, run_rendered_unlock

pytestmark = [pytest.mark.ui, pytest.mark.timeout(40)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_pin_pad_unlocks_the_store(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", VOTERS, opened=False)
    assert needs_unlock(tdir.root)
    u = UnlockPresenter(AtRestUnlock(tdir.root), "中区役所 期日前投票所")

    async def script(root: Any) -> None:
        assert "中区役所 期日前投票所: 投票所の開設（管理者 PIN で端末の記録を開きます）" in root.texts()
        for d in "9999":
            root.press(d)
        root.press("開く")
        await frame()
        assert "× PIN が違います（あと 9 回まで）" in root.texts()
        for d in TEST_PIN:
            root.press(d)
        assert "●●●●" in root.texts()
        root.press("開く")
        await frame()
        assert "✓ 開きました" in root.texts()
        with pytest.raises(LookupError):
            root.press("開く")  # done: the pad is disabled

    try:
        await run_rendered_unlock(u, script)
        assert u.state.unlocked and not needs_unlock(tdir.root)
        with Terminal.open(tdir, FixedClock(EARLY_NOON)) as term:
            assert term.voter("100001").name == "山田 太郎"
    finally:
        atrest.close_station(tdir)
