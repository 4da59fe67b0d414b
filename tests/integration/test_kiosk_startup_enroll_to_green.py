"""``meibo kiosk TDIR`` from a blank terminal to a green 受付完了, with the real widgets (offscreen)
and the real parts: pyscard → a private pcscd → vpcd → the project's virtual card; HQ's enrollment
endpoint (its own port, the card's address + 1) and HQ's sync endpoint over real TLS; a real
terminal directory with its store sealed under the 投票管理者 PIN.

One window, one asyncio loop (``StationRun``): enrollment screen (card in → a wrong card PIN says
the tries left → right PIN → 投票管理者 PIN twice → every enroll step ✓ → terminal, station, roll)
→ station unlock (the same 投票管理者 PIN) → opening check against HQ → 開設する → a scanned
入場整理券 → 宣誓書事由 → 受付 → green ✓ 受付完了. Then from the kiosk the supervisor's
re-enrollment opens the same screen: the used card is refused plainly, やめる returns to the
kiosk with the station still open. The roll comes with the enrollment (HQ sends the signed
packages): nothing to install by hand."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from appliance import atrest
from ground.barcode import make_barcode
from ground.clock import FixedClock
from appliance.dirs import HqDir, TerminalDir
from hardware.cardreader.pcsc import PcscCardReader
from provisioning import cards, pki
from provisioning.card_client import Personalisation
from provisioning.enroll_client import EnrollSettings
from hq.enroll_server import EnrollService, serve_enrollment
from tests.builders import EARLY_NOON
from tests.integration.test_enroll_over_pcsc import make_hq
from tests.pcsc_fixtures import READER_SLOT0, PcscdService, issued_state, pcscd_service  # noqa: F401
from ui_kivy.rendered import frame, offscreen_env, until

pytestmark = [pytest.mark.ui, pytest.mark.pcsc, pytest.mark.timeout(120)]
CARD_PIN = "246810"
SUPERVISOR_PIN = "1357"
CLOCK = FixedClock(EARLY_NOON)


@pytest.fixture(autouse=True)
def _kivy_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    offscreen_env(tmp_path_factory.getbasetemp() / "kivy_home")


def eligible_voter(hq: HqDir) -> str:
    roll = next(hq.root.parent.glob("roll-*.csv"))
    with open(roll, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            born = date.fromisoformat(row["生年月日"])
            if row["状態"] in ("", "登録") and born < date(2000, 1, 1):
                return str(row["選挙人番号"])
    raise AssertionError("no eligible voter in the synthetic roll")


def issue_card(svc: PcscdService, hq: HqDir, tmp: Path, seed: int = 7) -> Any:
    """A card HQ issued for T01 at E01 (recorded in HQ's card register), not inserted yet."""
    cfg = hq.config()
    perso = Personalisation(cfg.election_id, cfg.hq_address, pki.ca_fingerprint(hq.pki), "T01", "E01")
    state, pub = issued_state(perso, CARD_PIN, seed=seed)
    cards.record_issued(hq.root, cards.CardRecord(
        serial=state.serial.hex().upper(), election_id=cfg.election_id, terminal_id="T01",  # type: ignore[arg-type]
        station_id="E01", public_key=pub.hex(), issued_at=CLOCK.now().isoformat()))  # type: ignore[arg-type]
    return svc.card(state, slot=0, state_path=tmp / f"card-{seed}.json")


async def start_enrollment(hq: HqDir, host: str, port: int) -> tuple[Any, str | None]:
    """HQ's enrollment endpoint at the card's default (sync port + 1); if that port is taken on
    this shared machine, any free port and the ``--enroll-hq`` override instead."""
    try:
        return await serve_enrollment(EnrollService(hq, CLOCK), host, port + 1), None
    except OSError:
        ep = await serve_enrollment(EnrollService(hq, CLOCK), host, 0)
        return ep, f"{host}:{ep.port}"


def big_enough(root: Any) -> None:
    """Touch targets ≥ 15 mm (≈ 90 px at 1280×800 on 10 inches) and text ≥ 24 px on what is shown."""
    from kivy.factory import Factory
    from kivy.uix.label import Label

    for w in root.shown():
        if isinstance(w, Factory.Button) and w.text and not w.disabled:
            assert w.height >= 90 and w.width >= 90, (w.text, w.size)
        if isinstance(w, Label) and w.text:
            assert w.font_size >= 24, (w.text, w.font_size)


async def see(root: Any, text: str, timeout_s: float = 10.0) -> None:
    """Wait until a shown text contains ``text``; on timeout say what the screen showed."""
    try:
        await until(lambda: any(text in t for t in root.texts()), timeout_s)
    except TimeoutError:
        raise AssertionError(f"{text!r} not shown; the screen shows: {root.texts()}") from None


async def open_menu_and_enroll(root: Any, flow: Any, pin: str) -> None:
    """管理者 → the supervisor PIN → 管理者メニュー → 端末の登録（スマートカード）."""
    from ui_kivy.presenters.app_flow import Screen

    root.press("管理者")
    await frame()
    type_digits(root, pin)
    root.press("確定")
    await until(lambda: flow.screen is Screen.MENU)
    try:
        root.press("端末の登録（スマートカード）")
    except LookupError:  # the menu's button is app_flow/screens.py's (another change); the same hook
        flow.on_enroll()


def type_digits(root: Any, digits: str) -> None:
    for d in digits:
        root.press(d)


async def test_blank_terminal_enrolls_unlocks_opens_and_checks_in(tmp_path: Path, pcscd_service: PcscdService,
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
    card = issue_card(pcscd_service, hq, tmp_path)
    voter_id = eligible_voter(hq)
    tdir = tmp_path / "T01"
    run = StationRun(tdir, clock=CLOCK, clerk="係員A", font=prepare_kivy((1280, 800)), reader_factory=PcscCardReader,
                     enroll_hq=override,
                     enroll_settings=EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0),
                     settings=StationSettings(unlocked_pause_s=0.1))
    failure: list[BaseException] = []

    async def script() -> None:
        await until(lambda: run.screen == "enroll", 10)
        root = run.root
        shown = root.texts()
        assert "端末の登録（スマートカード）" in shown and "スマートカードを差し込んでください" in shown
        assert f"カードリーダー: {READER_SLOT0}（空）" in "\n".join(shown)
        big_enough(root)

        await asyncio.to_thread(card.insert)  # the card goes in: the screen sees it at its next poll
        await until(lambda: "カードの暗証番号を入力してください" in root.texts(), 10)
        shown = "\n".join(root.texts())
        assert "端末 T01 / 投票所 E01" in shown and f"本部の登録窓口: {override or f'{host}:{int(port) + 1}'}" in shown
        type_digits(root, "999999")
        assert "●●●●●●" in root.texts()
        root.press("次へ")
        await until(lambda: "投票管理者の PIN を決めてください（4〜12 桁。端末の記録の鍵になります）" in root.texts())
        type_digits(root, SUPERVISOR_PIN)
        root.press("次へ")
        await until(lambda: "確認のため、もう一度投票管理者の PIN を入力してください" in root.texts())
        type_digits(root, SUPERVISOR_PIN)
        root.press("登録する")
        await until(lambda: any("カードの暗証番号が違います（あと 2 回" in t for t in root.texts()), 15)
        assert not tdir.exists()  # a wrong PIN changed nothing
        type_digits(root, CARD_PIN)
        root.press("次へ")  # the 投票管理者 PIN was kept: straight to the enrollment
        await until(lambda: "登録が完了しました。カードを抜いてください" in root.texts(), 60)
        shown = "\n".join(root.texts())
        assert "✓ 端末 T01 を 中区役所 期日前投票所（E01）の端末として登録しました" in shown, shown
        assert "選挙人名簿 第 1 版を受信・格納済み" in shown
        big_enough(root)
        assert TerminalDir(tdir).identity().terminal_id == "T01" and atrest.is_protected(TerminalDir(tdir))
        assert card.state.use_counter == 1
        root.press("続ける")

        await until(lambda: run.screen == "unlock", 10)
        assert "中区役所 期日前投票所: 投票所の開設（管理者 PIN で端末の記録を開きます）" in root.texts()
        type_digits(root, SUPERVISOR_PIN)
        root.press("開く")
        await until(lambda: run.screen == "kiosk", 15)
        flow = run.flow
        assert flow.screen is Screen.OPENING
        await until(lambda: "● 本部: 接続中" in root.texts(), 15)
        root.press("本部と再確認")
        await see(root, "✓ 開設前の確認: 本部と一致しています")
        root.press("開設する")
        await until(lambda: flow.screen is Screen.IDLE)
        assert "▶ 入場整理券をスキャンしてください" in root.texts()

        flow.on_barcode(make_barcode(voter_id, flow.service.config.barcode))
        await until(lambda: flow.screen is Screen.CONFIRM)
        root.press("1号 仕事・用務に従事")  # 宣誓書事由 first (early station)
        await frame()
        root.press("受付（名簿対照）")
        await until(lambda: flow.screen is Screen.RESULT, 15)
        b = root.current.banner
        assert b.title == "✓ 受付完了" and b.colour == "green"
        root.press("次の方へ")
        await until(lambda: flow.screen is Screen.IDLE)

        # Re-enrollment from the supervisor menu (flow.on_enroll): the used card is refused plainly.
        await open_menu_and_enroll(root, flow, SUPERVISOR_PIN)  # the PIN chosen at enrollment opens the menu
        await until(lambda: run.screen == "enroll", 10)
        assert "端末の登録し直し（スマートカード）" in root.texts()
        await until(lambda: any("このカードは使用済みです" in t for t in root.texts()), 10)
        root.press("やめる（受付画面に戻る）")
        await until(lambda: run.screen == "kiosk", 10)
        assert run.flow.screen is Screen.IDLE  # still open: no unlock, no opening check again
        assert TerminalDir(tdir).identity().terminal_id == "T01"

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
        await endpoint.stop()
        await node_runner.cleanup()
        atrest.close_station(TerminalDir(tdir)) if tdir.exists() else None
    if failure:
        raise failure[0]
