"""At rest with the enrolled card (``pin+card``): after ``meibo terminal seal-card`` the
supervisor PIN alone no longer opens the store — a stolen disk plus the right PIN is not enough,
so an offline PIN search has nothing to test against without the card — while PIN + the card
opens it. A directory sealed before (PIN only) keeps opening with the PIN (migration). The card
is the real applet and the real card client behind the fake reader."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from appliance import atrest
from hq import compliance
from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal
from hardware.cardreader.fake import FakeCard, FakeCardReader
from provisioning import card_session as provision_commands
from provisioning.applet import Applet, blank_card
from provisioning.card_client import CardClient, Personalisation
from tests.builders import EARLY_NOON, election_toml
from tests.security_helpers import fake_proc, meibo

NOW = "2027-04-20T12:00"
PIN, CARD_PIN = "135790", "2468"
READER = "Fake Reader 0"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TerminalDir, FakeCardReader, FakeCard]:
    monkeypatch.setenv(atrest.RUNTIME_ENV, str(tmp_path / "shm"))
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="atcard"), "utf-8")
    clock = FixedClock(EARLY_NOON)
    hq_init(tmp_path / "hq", cfg, clock)
    enroll_local(tmp_path / "hq", "T01", "E01", tmp_path / "T01", clock, pin=PIN)
    reader = FakeCardReader()
    card = make_card(reader, READER, 7, "atcard", "T01")
    monkeypatch.setattr(provision_commands, "reader_factory", lambda: reader)
    return TerminalDir(tmp_path / "T01"), reader, card


def make_card(reader: FakeCardReader, slot: str, seed: int, election: str, terminal: str) -> FakeCard:
    rnd = random.Random(seed).randbytes
    reader.plug(slot)
    card = FakeCard(reader, slot, Applet(blank_card(rnd), rnd))
    card.insert()
    with reader.connect(slot) as ch:
        CardClient(ch).personalise(Personalisation(election, "10.0.0.1:8443", bytes(32), terminal, "E01"), CARD_PIN)
    return card


def files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "pin").write_text(PIN + "\n")
    (tmp_path / "card-pin").write_text(CARD_PIN + "\n")
    return str(tmp_path / "pin"), str(tmp_path / "card-pin")


def sealed(t: TerminalDir) -> dict:  # type: ignore[type-arg]
    return json.loads(atrest.sealed_path(t).read_text())


def test_after_seal_card_the_pin_alone_opens_nothing_and_pin_plus_card_opens(
        world: tuple[TerminalDir, FakeCardReader, FakeCard], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t, _, _ = world
    pin, card_pin = files(tmp_path)
    key_check = sealed(t)["key_check"]
    rc, out = meibo(monkeypatch, capsys, "terminal", "seal-card", str(t.root), "--pin-file", pin,
                    "--card-pin-file", card_pin, "--reader", READER)
    assert rc == 0 and out["wrappings"] == ["pin+card"] and out["card_required"] is True, out
    assert sealed(t)["key_check"] == key_check  # same data key: the store was not touched
    rep = compliance.run(t.root, FixedClock(EARLY_NOON), fake_proc(tmp_path / "proc"))
    at_rest = "\n".join(rep["conditions"][4]["evidence"])
    assert "OK  PIN と登録カードの両方が必要" in at_rest, at_rest

    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", pin, "--now", NOW)
    assert rc != 0 and out["code"] == "card_required", out
    assert atrest.unlocked_key(t) is None

    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", pin,
                    "--reader", READER, "--card-pin-file", card_pin, "--now", NOW)
    assert rc == 0 and out["code"] == "ok", out
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        assert term.terminal_id == "T01"


def test_copied_disk_with_the_right_pin_but_not_the_card_stays_shut(
        world: tuple[TerminalDir, FakeCardReader, FakeCard], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t, reader, _ = world
    pin, card_pin = files(tmp_path)
    meibo(monkeypatch, capsys, "terminal", "seal-card", str(t.root), "--pin-file", pin,
          "--card-pin-file", card_pin, "--reader", READER)
    stolen = TerminalDir(tmp_path / "stolen")
    shutil.copytree(t.root, stolen.root)
    with pytest.raises(atrest.CardRequired):
        atrest.unseal(stolen, PIN)
    # the attacker's best guess at the card's answer, and another genuine card with the same PIN
    with pytest.raises(atrest.PinWrong):
        atrest.unseal(stolen, PIN, card=lambda challenge: bytes(32))
    other = make_card(reader, "Other", 8, "atcard", "T01")
    with reader.connect("Other") as ch:
        client = CardClient(ch)
        client.select()
        client.verify_pin(CARD_PIN)
        with pytest.raises(atrest.PinWrong):
            atrest.unseal(stolen, PIN, card=client.derive_atrest_key)
    assert other.present
    # only the enrolled card opens it
    with reader.connect(READER) as ch:
        client = CardClient(ch)
        client.select()
        client.verify_pin(CARD_PIN)
        assert len(atrest.unseal(stolen, PIN, card=client.derive_atrest_key)) == atrest.KEY_BYTES


def test_old_pin_only_directory_still_opens_and_keep_pin_only_keeps_both(
        world: tuple[TerminalDir, FakeCardReader, FakeCard], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t, _, _ = world
    pin, card_pin = files(tmp_path)
    assert [w["kind"] for w in sealed(t)["wrappings"]] == ["pin"]
    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", pin, "--now", NOW)
    assert rc == 0 and out["code"] == "ok", out  # made before the card wrapping: PIN alone, as before
    meibo(monkeypatch, capsys, "terminal", "close", str(t.root), "--now", NOW)
    rc, out = meibo(monkeypatch, capsys, "terminal", "seal-card", str(t.root), "--pin-file", pin,
                    "--card-pin-file", card_pin, "--reader", READER, "--keep-pin-only")
    assert rc == 0 and out["wrappings"] == ["pin", "pin+card"] and out["card_required"] is False, out
    assert len(atrest.unseal(t, PIN)) == atrest.KEY_BYTES


def test_wrong_card_pin_other_terminals_card_and_wrong_card_change_nothing(
        world: tuple[TerminalDir, FakeCardReader, FakeCard], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t, reader, card = world
    pin, card_pin = files(tmp_path)
    meibo(monkeypatch, capsys, "terminal", "seal-card", str(t.root), "--pin-file", pin,
          "--card-pin-file", card_pin, "--reader", READER)
    before = atrest.sealed_path(t).read_bytes()
    (tmp_path / "bad").write_text("9999\n")
    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", pin,
                    "--reader", READER, "--card-pin-file", str(tmp_path / "bad"), "--now", NOW)
    assert rc != 0 and out["code"] == "wrong_pin", out  # the card counted it (3 tries), not the disk
    make_card(reader, "T02 card", 9, "atcard", "T02")
    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", pin,
                    "--reader", "T02 card", "--card-pin-file", card_pin, "--now", NOW)
    assert rc != 0 and out["code"] == "card_other_terminal", out
    make_card(reader, "Second T01 card", 10, "atcard", "T01")  # a re-issued card for the same terminal
    rc, out = meibo(monkeypatch, capsys, "terminal", "open", str(t.root), "--pin-file", pin,
                    "--reader", "Second T01 card", "--card-pin-file", card_pin, "--now", NOW)
    assert rc != 0 and out["code"] == "card_mismatch", out
    assert atrest.sealed_path(t).read_bytes() == before and atrest.unlocked_key(t) is None
