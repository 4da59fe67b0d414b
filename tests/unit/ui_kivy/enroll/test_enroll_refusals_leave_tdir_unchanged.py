"""Every refusal is a plain Japanese message with a stable code, and TDIR is as it was (absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.enroll import TState
from tests.unit.ui_kivy.enroll.conftest import up_to_enroll
from tests.unit.ui_kivy.enroll.fake_port import FakeCard, FakeEnrollPort
from ui_kivy.presenters.enroll import EnrollPresenter, Phase


def japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("setup, code, words", [
    (lambda port, card: port.hq_down(), "hq_unreachable", "本部の登録窓口に接続できません"),
    (lambda port, card: setattr(port, "hq_trusted", False), "hq_not_trusted", "選挙 CA と一致しません"),
    (lambda port, card: port.hq_enrolled.add("T01"), "terminal_already_enrolled", "すでに本部に登録されています"),
    (lambda port, card: port.pull_at(TState.PROVEN), "card_removed", "カードが抜かれました"),
])
async def test_refused_during_enrollment(tmp_path: Path, port: FakeEnrollPort, card: FakeCard, setup: object,
                                         code: str, words: str) -> None:
    setup(port, card)  # type: ignore[operator]
    p = EnrollPresenter(port)
    await up_to_enroll(p, port, card)
    assert p.phase is Phase.FAILED and p.state.error_code == code
    assert words in p.state.message and japanese(p.state.message) and p.state.message.startswith("× ")
    assert any(r.status == "failed" for r in p.state.steps)
    assert not (tmp_path / "T01").exists()
    assert not card.used
    p.poll()  # the card pulled (card_removed) or still in: the reason stays on screen
    assert words in p.state.message


@pytest.mark.parametrize("card, code, words", [
    (FakeCard(used=True), "card_already_used", "このカードは使用済みです"),
    (FakeCard(issued=False), "card_not_issued", "発行が済んでいません"),
    (FakeCard(tries_left=0), "card_locked", "カードはロックされています"),
])
async def test_refused_when_the_card_is_read(tmp_path: Path, port: FakeEnrollPort, card: FakeCard, code: str,
                                            words: str) -> None:
    p = EnrollPresenter(port)
    p.poll()
    port.insert(card)
    p.poll()
    assert p.phase is Phase.FAILED and p.state.error_code == code and words in p.state.message
    assert "enroll" not in port.calls and not (tmp_path / "T01").exists()
    p.poll()  # the same card still in: read once, not again and again
    assert port.calls == ["read_card"]


async def test_card_of_another_election_refused_before_the_pin(tmp_path: Path, port: FakeEnrollPort) -> None:
    p = EnrollPresenter(port, replace=True, election_id="yokohama-2027")
    p.poll()
    port.insert(FakeCard(election_id="kawasaki-2027"))
    p.poll()
    assert p.phase is Phase.FAILED and p.state.error_code == "card_other_election"
    assert p.state.message == "× 別の選挙のカードです。この選挙の登録カードを使ってください"


async def test_card_pulled_before_the_pin_goes_back_to_waiting(port: FakeEnrollPort, card: FakeCard) -> None:
    p = EnrollPresenter(port)
    p.poll()
    port.insert(card)
    p.poll()
    p.digit("1")
    port.remove()
    p.poll()
    assert p.phase is Phase.WAIT_CARD and p.state.card is None and p.state.digits == 0
    assert p.state.message == "カードが抜かれました。差し込み直してください"


async def test_no_pcsc_service_says_so(port: FakeEnrollPort) -> None:
    port.service_down = True
    p = EnrollPresenter(port)
    p.poll()
    assert p.phase is Phase.NO_READER
    assert p.state.message == "カードリーダーのサービス（pcscd）が動いていません。端末の管理者に連絡してください"
    port.service_down = False
    p.poll()
    assert p.phase is Phase.WAIT_CARD and p.state.message == ""
