"""A kiosk whose store was rolled back (an older store.db copied in) shows 受付停止 in red with
what happened and the next step, rendered, instead of the kiosk; closing the window ends the
command with the same error (issue 16 part 3, appliance/freshness.py)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from ground.clock import FixedClock
from ground.errors import MeiboError
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter
from ui_kivy.rendered import offscreen_env, until

pytestmark = [pytest.mark.ui, pytest.mark.timeout(60)]
CLOCK = FixedClock(EARLY_NOON)


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_rolled_back_store_shows_stop_screen_in_red(tmp_path: Path) -> None:
    from ui_kivy.app import StationRun, prepare_kivy
    from ui_kivy.views import theme

    tdir = terminal_dir(tmp_path / "T01", [voter("100001"), voter("100002")])
    with Terminal.open(tdir, CLOCK) as t:
        t.checkin("100001", "c1")
    shutil.copy2(tdir.store_path, tmp_path / "old.db")  # closed: no WAL left
    with Terminal.open(tdir, CLOCK) as t:
        t.checkin("100002", "c1")
    shutil.copy2(tmp_path / "old.db", tdir.store_path)

    run = StationRun(tdir.root, clock=CLOCK, clerk="係員A", font=prepare_kivy((1280, 800)))
    failure: list[BaseException] = []
    want = "端末の記録が巻き戻っています（記録 2 番まであったはずが 1 番まで）。この端末での受付を止め、本部に連絡してください"

    async def script() -> None:
        await until(lambda: run.screen == "stopped", 15)
        root = run.root
        assert sorted(root.texts()) == sorted(["受付停止", want, "store_rolled_back"])
        shown = {w.text: w for w in root.shown() if getattr(w, "text", "")}
        assert tuple(shown[want].color) == theme.RED and tuple(shown["受付停止"].color) == theme.RED
        assert run.flow is None  # no kiosk, no sync agent

    async def driver() -> None:
        try:
            await script()
        except BaseException as e:
            failure.append(e)
        finally:
            run.app.stop()

    task = asyncio.ensure_future(driver())
    with pytest.raises(MeiboError) as ei:
        await run.run()
    await task
    if failure:
        raise failure[0]
    assert ei.value.code == "store_rolled_back"
