"""``meibo kiosk TDIR`` on a station sealed with ``terminal seal-card`` (only ``pin+card`` left),
with the real widgets (offscreen) and the real parts: pyscard → a private pcscd → vpcd → the
project's virtual card issued for T01; a real terminal directory whose store key is sealed under
the 投票管理者 PIN and that card.

One window (``StationRun``): 登録カードを差し込んでください → the card goes in → a wrong card PIN
says the card's tries left → the right one → the card is pulled before the 投票管理者 PIN: back to
the card step with a message, nothing opened → card in again, card PIN, 投票管理者 PIN → the store
opens and the kiosk shows the opening check (開設前の確認). Touch targets ≥ 15 mm, text ≥ 24 px."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance import atrest
from ground.clock import FixedClock
from hardware.cardreader.pcsc import PcscCardReader
from provisioning.pcsc_service import READER_SLOT0
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir
from tests.integration.test_kiosk_startup_enroll_to_green import big_enough, see, type_digits
from tests.pcsc_fixtures import PcscdService, pcscd_service  # noqa: F401
from tests.unit.ui_kivy.conftest import VOTERS
from tests.unit.ui_kivy.unlock.test_unlock_port_contract import CARD_PIN, card_ready, issued_card, seal_with_card
from ui_kivy.presenters.unlock import PULLED
from ui_kivy.rendered import offscreen_env, until

pytestmark = [pytest.mark.ui, pytest.mark.pcsc, pytest.mark.timeout(90)]
CLOCK = FixedClock(EARLY_NOON)


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_card_sealed_station_unlocks_with_card_and_pins_into_the_opening_check(
        tmp_path: Path, pcscd_service: PcscdService, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui_kivy.app import StationRun, StationSettings, prepare_kivy
    from ui_kivy.presenters.app_flow import Screen

    monkeypatch.setenv(atrest.RUNTIME_ENV, str(tmp_path / "runtime"))
    tdir = terminal_dir(tmp_path / "T01", VOTERS, opened=False)
    card = issued_card(pcscd_service, tmp_path, "T01", 0, 7)
    pcsc = PcscCardReader()
    await asyncio.to_thread(card.insert)
    card_ready(pcsc, READER_SLOT0)
    assert seal_with_card(tdir, pcsc, READER_SLOT0, TEST_PIN, CARD_PIN) == ["pin+card"]
    card.remove()
    assert pcsc.wait_for_removal(READER_SLOT0, 5.0)
    assert atrest.needs_card(tdir) and atrest.unlocked_key(tdir) is None

    run = StationRun(tdir.root, clock=CLOCK, clerk="係員A", font=prepare_kivy((1280, 800)),
                     reader_factory=PcscCardReader, settings=StationSettings(unlocked_pause_s=0.1))
    failure: list[BaseException] = []

    async def card_in() -> None:
        await asyncio.to_thread(card.insert)
        await see(run.root, "カードの暗証番号を入力してください")

    async def script() -> None:
        await until(lambda: run.screen == "unlock", 10)
        root = run.root
        await see(root, "登録カードを差し込んでください")
        shown = root.texts()
        assert "中区役所 期日前投票所: 投票所の開設（登録カードと管理者 PIN で端末の記録を開きます）" in shown
        assert any(f"カードリーダー: {READER_SLOT0}（空）" in t for t in shown), shown
        for key in ("開く", "1"):  # no pad and no 開く while a card is awaited
            with pytest.raises(LookupError):
                root.press(key)
        big_enough(root)

        await card_in()
        assert any("登録カード " in t and "カードあり" in t for t in root.texts())
        type_digits(root, "999999")
        assert "●●●●●●" in root.texts()
        big_enough(root)
        root.press("次へ")
        await see(root, "× カードの暗証番号が違います（あと 2 回間違えるとカードがロックされます）")
        type_digits(root, CARD_PIN)
        root.press("次へ")
        await see(root, "投票管理者の PIN を入力してください（カードは差したまま）")
        assert card.state.pin_tries == 3  # the right PIN reset the card's count

        await asyncio.to_thread(card.remove)  # pulled before the 投票管理者 PIN
        await see(root, PULLED)
        assert "登録カードを差し込んでください" in root.texts() and atrest.unlocked_key(tdir) is None

        await card_in()
        type_digits(root, CARD_PIN)
        root.press("次へ")
        await see(root, "投票管理者の PIN を入力してください（カードは差したまま）")
        type_digits(root, TEST_PIN)
        assert "●●●●" in root.texts()
        big_enough(root)
        root.press("開く")
        await until(lambda: run.screen == "kiosk", 15)
        assert run.flow.screen is Screen.OPENING
        await see(root, "開設前の確認")
        assert atrest.unlocked_key(tdir) is not None

    async def driver() -> None:
        try:
            await script()
        except BaseException as e:
            failure.append(e)
        finally:
            run.app.stop()

    task = asyncio.ensure_future(driver())
    try:
        await run.run()
        await task
    finally:  # the card: pulled by the pcscd_service fixture
        pcsc.close()
        atrest.close_station(tdir)
    if failure:
        raise failure[0]
