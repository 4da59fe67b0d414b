"""Rendered kiosk with HQ unreachable: the check-in is recorded and shown amber オフライン受付."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ground.barcode import make_barcode
from tests.integration.test_kiosk_rendered_scan_to_green import kiosk, kiosk_env, stop
from ui_kivy.presenters.app_flow import Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered, until

pytestmark = [pytest.mark.ui, pytest.mark.timeout(40)]


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_hq_unreachable_is_amber(tmp_path: Path) -> None:
    env = kiosk_env(tmp_path)  # HQ never started: nothing listens on its port
    flow, agent, task = await kiosk(env, "T01", online=False)

    async def amber(root: Any) -> None:
        await until(lambda: "× 本部: 未接続（オフライン）" in root.texts())
        flow.on_barcode(make_barcode("100002", agent.term.config.barcode))
        root.press("1号 仕事・用務に従事")  # 宣誓書事由 first (early station)
        await frame()
        root.press("受付（名簿対照）")
        await until(lambda: flow.screen is Screen.RESULT)
        b = root.banner
        assert b.title == "！ オフライン受付" and b.colour == "amber"
        assert tuple(b.bg) == (0.98, 0.68, 0.05, 1)
        shown = "\n".join(root.texts())
        assert "オフライン時の手順" in shown and "[b]1. 衆議院小選挙区選出議員選挙[/b]" in shown
        assert any(t.startswith("未送信 ") and t != "未送信 0 件" for t in root.texts())

    try:
        await run_rendered(flow, amber)
        kinds = [k for (k,) in agent.term.store.conn.execute("SELECT kind FROM journal ORDER BY seq")]
        assert kinds[-2:] == ["checkin", "provisional"]
    finally:
        await stop(agent, task)
