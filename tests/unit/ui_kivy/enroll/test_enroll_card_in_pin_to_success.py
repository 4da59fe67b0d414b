"""Happy path on the enrollment screen: reader found, card inserted, card PIN, 投票管理者 PIN twice,
every enroll state ticked in Japanese, then the terminal, station and roll shown and 続ける."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ui_kivy.enroll.conftest import PIN, SUPERVISOR, type_pin
from tests.unit.ui_kivy.enroll.fake_port import FakeCard, FakeEnrollPort
from ui_kivy.presenters.enroll import STEPS, Enrolled, EnrollPresenter, Phase


async def test_card_in_pin_supervisor_pin_enrolled(tmp_path: Path, port: FakeEnrollPort, card: FakeCard) -> None:
    finished: list[Enrolled | None] = []
    p = EnrollPresenter(port, on_finished=finished.append)
    seen: list[Phase] = []
    p.subscribe(lambda: seen.append(p.phase))
    assert p.phase is Phase.NO_READER
    p.poll()
    assert p.phase is Phase.WAIT_CARD
    assert p.state.prompt == "スマートカードを差し込んでください"
    assert p.state.readers_text == "カードリーダー: Virtual PCD 00 00（空）"
    assert p.state.buttons == ()  # first enrollment: nothing to cancel to
    port.insert(card)
    p.poll()
    assert p.phase is Phase.CARD_PIN
    assert p.state.card_text == "カード 00000000000000A1: 選挙 yokohama-2027 / 端末 T01 / 投票所 E01"
    assert p.state.hq_text == "本部の登録窓口: 127.0.0.1:8444"
    assert p.state.readers_text == "カードリーダー: Virtual PCD 00 00（カードあり）"
    type_pin(p, PIN)
    assert p.state.masked == "●●●●●●"
    await p.submit()
    assert p.phase is Phase.SUPERVISOR_PIN and p.state.masked == "（未入力）"
    type_pin(p, SUPERVISOR)
    await p.submit()
    assert p.phase is Phase.SUPERVISOR_CONFIRM
    assert ("submit", "登録する") in p.state.buttons
    type_pin(p, SUPERVISOR)
    await p.submit()
    assert p.phase is Phase.DONE
    assert Phase.ENROLLING in seen
    assert [r.text for r in p.state.steps] == [f"✓ {label}" for _, label in STEPS]
    assert p.state.done_text.splitlines()[0] == "✓ 端末 T01 を 中区役所 期日前投票所（E01）の端末として登録しました"
    assert "選挙人名簿 第 1 版を受信・格納済み" in p.state.done_text
    assert p.state.prompt == "登録が完了しました。カードを抜いてください"
    assert (tmp_path / "T01" / "terminal.toml").exists()
    assert p.state.buttons == (("continue", "続ける"),)
    p.poll()  # the card still in: nothing changes after success
    assert p.phase is Phase.DONE
    p.finish()
    assert p.phase is Phase.FINISHED and finished == [p.state.result]


async def test_steps_show_progress_while_enrolling(port: FakeEnrollPort, card: FakeCard) -> None:
    p = EnrollPresenter(port)
    snapshots: list[tuple[str, ...]] = []
    p.subscribe(lambda: snapshots.append(tuple(r.text for r in p.state.steps)) if p.phase is Phase.ENROLLING else None)
    p.poll()
    port.insert(card)
    p.poll()
    type_pin(p, PIN)
    await p.submit()
    type_pin(p, SUPERVISOR)
    await p.submit()
    type_pin(p, SUPERVISOR)
    await p.submit()
    mid = [s for s in snapshots if s and "▶ 名簿の受信と格納" in s]
    assert mid, snapshots
    assert mid[0][:7] == tuple(f"✓ {label}" for _, label in STEPS[:7])
    assert any(p.state.detail == "" for _ in [0])  # detail cleared at the end


async def test_second_reader_with_the_card_is_used(tmp_path: Path, card: FakeCard) -> None:
    port = FakeEnrollPort(tmp_path / "T01", readers=("Virtual PCD 00 00", "Virtual PCD 00 01"))
    p = EnrollPresenter(port)
    p.poll()
    port.insert(card, "Virtual PCD 00 01")
    p.poll()
    assert p.phase is Phase.CARD_PIN and p.state.reader == "Virtual PCD 00 01"
    assert p.state.readers_text == "カードリーダー: Virtual PCD 00 00（空）、Virtual PCD 00 01（カードあり）"
