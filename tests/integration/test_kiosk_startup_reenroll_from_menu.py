"""Re-enrollment from the kiosk's supervisor menu, rendered, over the real card stack and HQ: a
terminal enrolled (never live: its journal is empty) is re-enrolled with a new card for the same
terminal id. The kiosk stops its terminal, the enrollment screen runs in re-enrollment mode, HQ
revokes the old identity, the old directory is kept as TDIR.replaced-<time>, and the walk starts
again: unlock with the NEW 投票管理者 PIN (the old one no longer opens it) → opening check."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from appliance import atrest
from ground.clock import FixedClock
from appliance.dirs import TerminalDir
from hardware.cardreader.pcsc import PcscCardReader
from provisioning.enroll_client import EnrollSettings, enroll
from tests.builders import EARLY_NOON
from tests.integration.test_enroll_over_pcsc import make_hq
from tests.integration.test_kiosk_startup_enroll_to_green import (CARD_PIN, issue_card, open_menu_and_enroll, see,
                                                                   start_enrollment, type_digits)
from tests.pcsc_fixtures import READER_SLOT0, PcscdService, pcscd_service  # noqa: F401
from ui_kivy.rendered import offscreen_env, until

pytestmark = [pytest.mark.ui, pytest.mark.pcsc, pytest.mark.timeout(120)]
CLOCK = FixedClock(EARLY_NOON)
FAST = EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0)
OLD_PIN, NEW_PIN = "1357", "8642"


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


async def test_reenroll_with_a_new_card_from_the_supervisor_menu(tmp_path: Path, pcscd_service: PcscdService,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hq.server import HqNode, serve
    from ui_kivy.app import StationRun, StationSettings, prepare_kivy
    from ui_kivy.presenters.app_flow import Screen

    monkeypatch.setenv(atrest.RUNTIME_ENV, str(tmp_path / "runtime"))
    hq = make_hq(tmp_path / "hq")
    host, port = hq.config().hq_address.rsplit(":", 1)
    node_runner = await serve(HqNode(hq), host, int(port))
    node_runner._shutdown_timeout = 2.0
    endpoint, override = await start_enrollment(hq, host, int(port))
    tdir = tmp_path / "T01"
    first = issue_card(pcscd_service, hq, tmp_path, seed=7)
    reader = PcscCardReader()
    await asyncio.to_thread(first.insert)
    try:
        assert reader.wait_for_card(READER_SLOT0, 5.0)
        await enroll(tdir, reader, READER_SLOT0, lambda _t: CARD_PIN, CLOCK, hq=override, supervisor_pin=OLD_PIN,
                     settings=FAST)
    finally:
        first.remove()  # never leave the first card in the slot for the next card test
        assert reader.wait_for_removal(READER_SLOT0, 5.0)
    old_cert = (tdir / "tls" / "client.pem").read_bytes()
    second = issue_card(pcscd_service, hq, tmp_path, seed=8)

    run = StationRun(tdir, clock=CLOCK, clerk="係員A", font=prepare_kivy((1280, 800)), reader_factory=PcscCardReader,
                     enroll_hq=override, enroll_settings=FAST, settings=StationSettings(unlocked_pause_s=0.1))
    failure: list[BaseException] = []

    async def script() -> None:
        await until(lambda: run.screen == "unlock", 10)  # enrolled and sealed: no enrollment screen
        root = run.root
        type_digits(root, OLD_PIN)
        root.press("開く")
        await until(lambda: run.screen == "kiosk", 15)
        flow = run.flow
        assert flow.screen is Screen.OPENING
        root.press("受付画面へ")
        await until(lambda: flow.screen is Screen.IDLE)
        await open_menu_and_enroll(root, flow, OLD_PIN)

        await until(lambda: run.screen == "enroll", 10)
        assert "端末の登録し直し（スマートカード）" in root.texts()
        assert run.flow is None  # the terminal and its sync agent are stopped while re-enrolling
        await asyncio.to_thread(second.insert)
        await see(root, "カードの暗証番号を入力してください")
        type_digits(root, CARD_PIN)
        root.press("次へ")
        await see(root, "投票管理者の PIN を決めてください")
        type_digits(root, NEW_PIN)
        root.press("次へ")
        await see(root, "確認のため、もう一度投票管理者の PIN を入力してください")
        type_digits(root, NEW_PIN)
        root.press("登録する")
        await see(root, "登録が完了しました。カードを抜いてください", 60)
        await see(root, "前の端末ディレクトリは")
        root.press("続ける")

        await until(lambda: run.screen == "unlock", 10)
        type_digits(root, OLD_PIN)
        root.press("開く")
        await see(root, "× PIN が違います")
        type_digits(root, NEW_PIN)
        root.press("開く")
        await until(lambda: run.screen == "kiosk", 15)
        assert run.flow.screen is Screen.OPENING

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
    finally:  # the cards: pulled by the pcscd_service fixture
        reader.close()
        await endpoint.stop()
        await node_runner.cleanup()
        for d in [tdir, *tmp_path.glob("T01.replaced-*")]:
            atrest.close_station(TerminalDir(d))
    if failure:
        raise failure[0]
    [kept] = list(tmp_path.glob("T01.replaced-*"))
    assert (kept / "tls" / "client.pem").read_bytes() == old_cert  # the old identity is kept, not destroyed
    assert (tdir / "tls" / "client.pem").read_bytes() != old_cert
    entries = [e for e in json.loads((hq.root / "terminals.json").read_text("utf-8")) if e["terminal"] == "T01"]
    assert [e["card"] for e in entries if not e["revoked"]] == [second.state.serial.hex().upper()]
    assert second.state.use_counter == 1
