"""Rendered kiosk (real widgets, offscreen) on a real terminal store: 閉鎖 from the supervisor menu
asks 受領数 / 交付数 / 残数 per contest on the digit pad; 閉鎖する is refused while a figure is
missing; then the figures show 受領数 − 交付数 − 残数 with ○ 一致 / ！ 不一致 in words, and the
journal's closing ``count`` entries carry received and left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance import procedures as P
from ground.events import EventKind, decode
from tests.builders import TEST_PIN
from tests.integration.test_kiosk_rendered_declared_tentative import real_flow
from tests.integration.test_kiosk_rendered_zaigai_to_green import press_key
from ui_kivy.presenters.app_flow import Screen
from ui_kivy.rendered import frame, offscreen_env, run_rendered

pytestmark = [pytest.mark.ui, pytest.mark.timeout(40)]

FIGURES = {"衆議院小選挙区選出議員選挙": (50, 0, 50), "最高裁判所裁判官国民審査": (50, 0, 50),
           "神奈川県知事選挙": (40, 0, 39), "横浜市長選挙": (40, 0, 40)}


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_closing_with_received_and_left(tmp_path: Path) -> None:
    flow, term = real_flow(tmp_path)

    async def script(root: Any) -> None:
        root.press("管理者")
        await frame()
        for d in TEST_PIN:
            press_key(root, d)
        root.press("確定")
        await frame()
        root.press("閉鎖する（受付終了）")
        await frame()
        assert flow.screen is Screen.CLOSE_ENTRY
        shown = "\n".join(root.texts())
        assert "名簿対照数 0" in shown and "● 受領数\n＿" in shown
        for name, nums in FIGURES.items():
            for i, n in enumerate(nums):
                for d in str(n):
                    press_key(root, d)
                press_key(root, "次へ")
                await frame()
            if name == "神奈川県知事選挙":
                root.press("閉鎖する")  # 横浜市長選挙 still empty: refused, nothing closed
                await frame()
                assert flow.screen is Screen.CLOSE_ENTRY
                assert P.day_state(term.store).state == "open"
                assert "未入力があります: 横浜市長選挙の受領数" in root.notice.text
        root.press("閉鎖する")
        await frame()
        assert flow.screen is Screen.CLOSING
        shown = "\n".join(root.texts())
        assert "！ 閉鎖しました — 数が合わない選挙があります（不一致を確認）" in shown
        assert "受領数 40 − 交付数 0 − 残数 39 = 1  ！ 不一致 差 +1（用紙が足りない）" in shown
        assert "受領数 50 − 交付数 0 − 残数 50 = 0  ○ 一致" in shown

    await run_rendered(flow, script)
    evs = [decode(bytes(b)) for (b,) in term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
    finals = [(e.data["contest"], e.data["received"], e.data["issued"], e.data["left"])
              for e in evs if e.kind is EventKind.COUNT]
    assert finals == [("shu", 50, 0, 50), ("shinsa", 50, 0, 50), ("governor", 40, 0, 39), ("mayor", 40, 0, 40)]
    assert P.day_state(term.store).state == "closed"
    term.close()
