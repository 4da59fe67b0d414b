"""Issue cards over the real stack: `meibo` → pyscard → private pcscd → vpcd → our virtual card.

Covers the card pulled out mid-issue (nothing half-written at HQ) and the `virtual-card` command
as a separate process whose card memory persists in its state file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ground.clock import FixedClock
from hardware.cardreader.pcsc import PcscCardReader
from provisioning import card_state, cards
from provisioning.applet import Lifecycle
from provisioning.card_client import CardClient
from provisioning.pki import create_election_pki
from provisioning.virtual_card import VirtualCard
from tests.builders import election_config, election_toml, jst
from tests.pcsc_fixtures import PcscdService, pcscd_service, virtual_card  # noqa: F401

pytestmark = pytest.mark.pcsc
MEIBO = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def hq(tmp_path: Path) -> Path:
    d = tmp_path / "hq"
    d.mkdir()
    (d / "election.toml").write_text(election_toml(), "utf-8")
    create_election_pki(d / "pki", election_config(), FixedClock(jst(2027, 4, 1)))
    (tmp_path / "pin.txt").write_text("246810\n")
    return d


def meibo(*argv: str, timeout: float = 60) -> tuple[int, dict[str, object]]:
    p = subprocess.run([*MEIBO, *argv, "--json"], capture_output=True, text=True, timeout=timeout,
                       env=os.environ.copy())
    return p.returncode, json.loads(p.stdout or p.stderr)


def issue(hq: Path, svc: PcscdService, terminal: str = "T01") -> tuple[int, dict[str, object]]:
    return meibo("provision", "issue-card", str(hq), "--terminal", terminal, "--station", "E01",
                 "--reader", svc.reader_name(0), "--pin-file", str(hq.parent / "pin.txt"), "--wait", "5")


def test_card_pulled_mid_issue_over_pcsc_leaves_nothing_at_hq(
        hq: Path, pcscd_service: PcscdService, virtual_card: VirtualCard) -> None:
    virtual_card.pull_on(0x24)  # SET PIN, after the five PUT DATA
    status, out = issue(hq, pcscd_service)
    assert status != 0 and out["code"] == "card_removed", out
    assert not cards.cards_path(hq).exists()
    assert virtual_card.state.lifecycle is Lifecycle.PERSONALISING and virtual_card.state.pin_hash is None

    virtual_card.insert()  # put it back and issue again: the half-written card is simply rewritten
    status, out = issue(hq, pcscd_service)
    assert status == 0, out
    [rec] = cards.load_cards(hq)
    assert rec.public_key_bytes == virtual_card.state.public_key
    assert card_state.load(virtual_card.state_path).lifecycle is Lifecycle.ISSUED  # type: ignore[arg-type]


def test_virtual_card_command_persists_the_card_across_runs(
        hq: Path, pcscd_service: PcscdService, tmp_path: Path) -> None:
    state = tmp_path / "vcard.json"
    reader = PcscCardReader()
    name = pcscd_service.reader_name(1)
    port = str(pcscd_service.port(1))

    def start() -> subprocess.Popen[str]:
        p = subprocess.Popen([*MEIBO, "provision", "virtual-card", "--vpcd-port", port, "--state", str(state)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not reader.wait_for_card(name, 10):
            p.kill()
            pytest.fail(f"virtual-card did not appear in {name}: {p.communicate()}")
        return p

    def stop(p: subprocess.Popen[str]) -> None:
        p.send_signal(2)  # Ctrl-C
        p.communicate(timeout=10)
        assert reader.wait_for_removal(name, 5)

    p = start()
    try:
        status, out = meibo("provision", "issue-card", str(hq), "--terminal", "T02", "--station", "E01",
                            "--reader", name, "--pin-file", str(hq.parent / "pin.txt"))
        assert status == 0, out
    finally:
        stop(p)
    assert card_state.load(state).lifecycle is Lifecycle.ISSUED

    p = start()  # the same card, from its file: issued, with the PIN HQ set
    try:
        with reader.connect(name) as ch:
            c = CardClient(ch)
            c.select()
            d = c.check_usable("yokohama-2027")
            assert (d.terminal_id, d.serial_hex) == ("T02", out["serial"])
            c.verify_pin("246810")
    finally:
        stop(p)
    reader.close()
