"""Station unlock before the kiosk: the encrypted store's key is unsealed with the supervisor PIN
(appliance.atrest, real sealed file and runtime key); a wrong PIN says the tries left, a locked PIN
says so plainly and the pad stops; once open the terminal opens and the kiosk goes on."""

from __future__ import annotations

from pathlib import Path

from appliance import atrest
from ground.clock import FixedClock
from ground.errors import MeiboError
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir
from tests.unit.ui_kivy.conftest import VOTERS
from ui_kivy.presenters.unlock import AtRestUnlock, UnlockPresenter, needs_unlock


def _type(u: UnlockPresenter, pin: str) -> bool:
    for d in pin:
        u.digit(d)
    return u.submit()


def test_wrong_then_right_pin_opens_the_store(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", VOTERS, opened=False)
    assert needs_unlock(tdir.root)
    opened: list[bool] = []
    u = UnlockPresenter(AtRestUnlock(tdir.root), "中区役所 期日前投票所", lambda: opened.append(True))
    assert u.state.title.startswith("中区役所 期日前投票所: 投票所の開設")
    assert not _type(u, "0000")
    assert u.state.message == "× PIN が違います（あと 9 回まで）" and not u.state.locked and u.state.digits == 0
    assert not _type(u, "")  # nothing typed: asked to type, no try counted
    assert u.state.message == "PIN を入力してください"
    try:
        assert _type(u, TEST_PIN) and u.state.unlocked and opened == [True]
        assert not needs_unlock(tdir.root)
        with Terminal.open(tdir, FixedClock(EARLY_NOON)) as term:
            assert term.voter("100001").name == "山田 太郎"
        u.digit("1")  # the pad is done
        assert u.state.digits == 0
    finally:
        atrest.close_station(tdir)


def test_locked_pin_says_so_and_stops(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", VOTERS, opened=False)
    u = UnlockPresenter(AtRestUnlock(tdir.root), "中区役所 期日前投票所")
    for _ in range(atrest.DEFAULT_SETTINGS.max_tries):
        _type(u, "1111")
    assert u.state.locked and "PIN での開設は停止" in u.state.message and "紙の名簿抄本" in u.state.message
    calls: list[str] = []

    class Port:
        def unlock(self, pin: str) -> None:
            calls.append(pin)

    u.port = Port()
    assert not _type(u, TEST_PIN) and calls == []  # locked: nothing more is tried from this pad
    assert needs_unlock(tdir.root)


def test_other_errors_are_shown() -> None:
    class Broken:
        def unlock(self, pin: str) -> None:
            raise MeiboError("保存データの鍵ファイルが壊れています", code="sealed_key_corrupt")

    u = UnlockPresenter(Broken(), "X")
    assert not _type(u, "1234") and u.state.message == "× 保存データの鍵ファイルが壊れています"
