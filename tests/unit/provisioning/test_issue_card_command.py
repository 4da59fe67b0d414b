"""`meibo provision issue-card / list-cards / cancel-card` over the fake reader.

The same commands run over real PC/SC in tests/integration/test_card_issue_over_pcsc.py."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from ground.clock import FixedClock
from hardware.cardreader.fake import FakeCard, FakeCardReader
from cli import provision as commands
from provisioning import card_session, cards
from provisioning.applet import Applet, Lifecycle, blank_card
from provisioning.pki import ca_fingerprint, create_election_pki
from tests.builders import election_config, election_toml, jst

READER = "Fake Reader 0"


@pytest.fixture
def hq(tmp_path: Path) -> Path:
    d = tmp_path / "hq"
    d.mkdir()
    (d / "election.toml").write_text(election_toml(), "utf-8")
    create_election_pki(d / "pki", election_config(), FixedClock(jst(2027, 4, 1)))
    return d


@pytest.fixture
def card(monkeypatch: pytest.MonkeyPatch) -> FakeCard:
    r = FakeCardReader()
    r.plug(READER)
    rnd = random.Random(9).randbytes
    c = FakeCard(r, READER, Applet(blank_card(rnd), rnd))
    c.insert()
    monkeypatch.setattr(card_session, "reader_factory", lambda: r)
    return c


@pytest.fixture
def pin_file(tmp_path: Path) -> Path:
    p = tmp_path / "pin.txt"
    p.write_text("246810\n")
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main([*argv, "--json"])
    out = capsys.readouterr()
    return status, json.loads(out.out or out.err)


def issue(capsys: pytest.CaptureFixture[str], hq: Path, pin_file: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    return run(capsys, "provision", "issue-card", str(hq), "--terminal", "T01", "--station", "E01",
               "--reader", READER, "--pin-file", str(pin_file), "--now", "2027-04-10T09:00", *extra)


def test_issue_card_writes_the_card_and_records_it(hq: Path, card: FakeCard, pin_file: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status, out = issue(capsys, hq, pin_file)
    assert status == 0 and out["code"] == "ok"
    st = card.applet.state
    assert st.lifecycle is Lifecycle.ISSUED
    assert out["serial"] == st.serial.hex().upper()
    assert bytes.fromhex(out["public_key"]) == st.public_key
    assert dict(st.data)[0x0103] == ca_fingerprint(hq / "pki")
    assert dict(st.data)[0x0102] == b"127.0.0.1:8443"
    [rec] = cards.load_cards(hq)
    assert (rec.terminal_id, rec.station_id, rec.state.value) == ("T01", "E01", "issued")
    assert rec.issued_at.startswith("2027-04-10T09:00")
    status, listed = run(capsys, "provision", "list-cards", str(hq))
    assert listed["cards"][0]["serial"] == rec.serial
    status, cancelled = run(capsys, "provision", "cancel-card", str(hq), rec.serial, "--reason", "紛失")
    assert status == 0 and cancelled["state"] == "cancelled" and cancelled["cancel_reason"] == "紛失"


def test_card_pulled_mid_issue_leaves_nothing_at_hq_and_can_be_written_again(
        hq: Path, card: FakeCard, pin_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card.pull_on(0x47)  # GENERATE KEY
    status, out = issue(capsys, hq, pin_file)
    assert status != 0 and out["code"] == "card_removed"
    assert not cards.cards_path(hq).exists()
    assert card.applet.state.lifecycle is Lifecycle.PERSONALISING
    card.insert()
    status, out = issue(capsys, hq, pin_file)
    assert status == 0 and len(cards.load_cards(hq)) == 1


def test_card_pulled_after_finalise_ran_is_not_recorded(
        hq: Path, card: FakeCard, pin_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card.pull_on(0xE4, after_processing=True)  # FINALISE ran, the answer was lost
    status, out = issue(capsys, hq, pin_file)
    assert out["code"] == "card_removed"
    assert not cards.cards_path(hq).exists()
    card.insert()
    status, out = issue(capsys, hq, pin_file)
    assert out["code"] == "card_not_blank"  # that card is spoiled: issue a new one


@pytest.mark.parametrize("args,code", [
    (["--station", "Z99"], "unknown_station"),
    (["--terminal", "bad id!"], "bad_terminal_id"),
])
def test_bad_arguments_change_nothing(hq: Path, card: FakeCard, pin_file: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], code: str) -> None:
    base = {"--terminal": "T01", "--station": "E01"}
    base[args[0]] = args[1]
    status, out = run(capsys, "provision", "issue-card", str(hq), "--terminal", base["--terminal"],
                      "--station", base["--station"], "--reader", READER, "--pin-file", str(pin_file))
    assert status != 0 and out["code"] == code
    assert card.applet.state.lifecycle is Lifecycle.PERSONALISING and card.applet.state.data == ()
    assert not cards.cards_path(hq).exists()


def test_missing_ca_bad_pin_file_no_card_and_second_card(hq: Path, card: FakeCard, pin_file: Path,
                                                         capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("12ab\n")
    status, out = issue(capsys, hq, bad)
    assert out["code"] == "pin_invalid" and out["problems"][0]["row"] == 1
    card.remove()
    status, out = issue(capsys, hq, pin_file)
    assert out["code"] == "card_absent"
    status, out = run(capsys, "provision", "issue-card", str(hq), "--terminal", "T01", "--station", "E01",
                      "--reader", "Nope", "--pin-file", str(pin_file))
    assert out["code"] == "no_reader"
    card.insert()
    assert issue(capsys, hq, pin_file)[0] == 0
    status, out = issue(capsys, hq, pin_file)
    assert out["code"] == "terminal_has_card"
    (hq / "pki" / "ca.pem").unlink()
    status, out = run(capsys, "provision", "issue-card", str(hq), "--terminal", "T02", "--station", "E01",
                      "--reader", READER, "--pin-file", str(pin_file))
    assert out["code"] == "no_election_ca"


def test_pin_is_never_a_command_line_argument() -> None:
    from cli.main import build_parser
    with pytest.raises(SystemExit):
        build_parser().parse_args(["provision", "issue-card", "hq", "--terminal", "T01", "--station", "E01",
                                   "--reader", "R", "--pin", "1234"])


def test_pin_prompt_asks_twice_and_refuses_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["246810", "246811"])
    monkeypatch.setattr(commands.getpass, "getpass", lambda prompt="": next(answers))
    from provisioning.card_client import PinInvalid
    with pytest.raises(PinInvalid) as e:
        commands.read_pin(None, confirm=True)
    assert e.value.code == "pin_mismatch"
