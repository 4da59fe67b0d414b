"""Card enrollment over the real stack: pyscard → private pcscd → vpcd → our virtual card; real TLS
to HQ's enrollment endpoint (its own port); a real terminal directory; then a real sync to HqNode.

Every refusal is checked for its English code, its Japanese message, and NO half-enrolled state:
the terminal directory absent (or untouched), no staging directory left beside it, HQ's
registry byte-for-byte unchanged, the card record at HQ still "issued" and the card's own use
counter still 0."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from ground.clock import FixedClock
from hq.terminals import hq_init
from appliance.dirs import HqDir, TerminalDir
from hq.roll import import_roll, publish
from appliance.synth import SynthSettings, write_roll_file
from hardware.cardreader.pcsc import PcscCardReader
from provisioning import cards, pki
from provisioning.applet import CardState, blank_card
from provisioning.card_client import Personalisation
from provisioning.enroll_client import EnrollResult, EnrollSettings, enroll
from hq.enroll_server import EnrollService, RunningEndpoint, serve_enrollment
from provisioning.virtual_card import VirtualCard
from tests.builders import EARLY_NOON, election_toml
from tests.pcsc_fixtures import READER_SLOT0, PcscdService, issued_state, pcscd_service  # noqa: F401

pytestmark = pytest.mark.pcsc
MEIBO = [sys.executable, "-m", "cli.main"]
PIN = "246810"
CLOCK = FixedClock(EARLY_NOON)
FAST = EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_hq(root: Path, election: str = "yokohama-2027", voters: int = 300) -> HqDir:
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / f"{election}.toml"
    cfg.write_text(election_toml(election_id=election, hq_address=f"127.0.0.1:{_free_port()}"), "utf-8")
    hq = HqDir(root / f"hq-{election}")
    hq_init(hq.root, cfg, CLOCK)
    csv = root / f"roll-{election}.csv"
    write_roll_file(SynthSettings(voters=voters, seed=3), csv)
    import_roll(hq, csv, CLOCK)
    publish(hq, None, CLOCK, full=True)
    return hq


class ThreadEndpoint:
    """HQ's enrollment endpoint on its own event loop in a thread (the test drives the terminal)."""

    def __init__(self, hq: HqDir) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ep: RunningEndpoint = asyncio.run_coroutine_threadsafe(
            serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", 0), self.loop).result(10)
        self.address = f"127.0.0.1:{self.ep.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.ep.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class World:
    tmp: Path
    hq: HqDir
    endpoint: ThreadEndpoint
    svc: PcscdService
    card: VirtualCard | None = None

    def issue(self, terminal: str = "T01", station: str = "E01", *, election: str | None = None,
              seed: int = 7, record: bool = True, state_change: dict[str, Any] | None = None) -> VirtualCard:
        cfg = self.hq.config()
        perso = Personalisation(election or cfg.election_id, cfg.hq_address, pki.ca_fingerprint(self.hq.pki),
                                terminal, station)
        state, pub = issued_state(perso, PIN, seed=seed)
        if state_change:
            state = replace(state, **state_change)
        if record:
            cards.record_issued(self.hq.root, cards.CardRecord(
                serial=state.serial.hex().upper(), election_id=perso.election_id, terminal_id=terminal,  # type: ignore[arg-type]
                station_id=station, public_key=pub.hex(), issued_at=CLOCK.now().isoformat()))  # type: ignore[arg-type]
        return self.insert(state)

    def insert(self, state: CardState) -> VirtualCard:
        self.remove()
        self.card = self.svc.card(state, slot=0, state_path=self.tmp / f"card-{state.serial.hex()}.json")
        self.card.insert()
        assert PcscCardReader().wait_for_card(READER_SLOT0, 5.0)
        return self.card

    def remove(self) -> None:
        if self.card is not None:
            self.card.remove()
            PcscCardReader().wait_for_removal(READER_SLOT0, 5.0)
            self.card = None

    def enroll(self, tdir: Path, *, pin: str = PIN, hq: str | None = None, replace: bool = False) -> EnrollResult:
        return asyncio.run(enroll(tdir, PcscCardReader(), READER_SLOT0, lambda tries: pin, CLOCK,
                                  hq=hq or self.endpoint.address, replace=replace, settings=FAST))

    def snapshot(self) -> tuple[bytes, list[dict[str, Any]]]:
        return ((self.hq.root / "terminals.json").read_bytes(),
                [c.to_json() for c in cards.load_cards(self.hq.root)])


@pytest.fixture
def world(tmp_path: Path, pcscd_service: PcscdService) -> Iterator[World]:
    hq = make_hq(tmp_path)
    ep = ThreadEndpoint(hq)
    w = World(tmp_path, hq, ep, pcscd_service)
    try:
        yield w
    finally:  # the card: pulled by the pcscd_service fixture
        ep.stop()


def assert_nothing_changed(w: World, before: tuple[bytes, list[dict[str, Any]]], tdir: Path) -> None:
    assert w.snapshot() == before
    assert not tdir.exists()
    assert not [p for p in tdir.parent.iterdir() if p.name.startswith(f".{tdir.name}.")], "staging left behind"
    assert w.card is None or w.card.state.use_counter == 0


def refused(w: World, tdir: Path, code: str, **kw: Any) -> Any:
    from ground.errors import MeiboError
    with pytest.raises(MeiboError) as ei:
        w.enroll(tdir, **kw)
    assert ei.value.code == code, (ei.value.code, ei.value.message)
    assert any("\u3040" <= ch <= "\u30ff" for ch in ei.value.message), ei.value.message  # Japanese for people
    return ei.value


# --- success ---------------------------------------------------------------------------------

def test_enroll_by_cli_then_checkin_syncs_to_hq(world: World) -> None:
    from appliance.terminal import Terminal
    from sync_protocol.client import SyncAgent, SyncSettings
    from hq.server import HqNode, serve

    # A blank card, issued at HQ by the real command through the real reader.
    card = world.insert(blank_card(random.Random(5).randbytes))
    pin_file = world.tmp / "pin.txt"
    pin_file.write_text(PIN + "\n")
    p = subprocess.run([*MEIBO, "provision", "issue-card", str(world.hq.root), "--terminal", "T01", "--station", "E01",
                        "--reader", READER_SLOT0, "--pin-file", str(pin_file), "--json"],
                       capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert p.returncode == 0, p.stdout + p.stderr
    tdir = world.tmp / "T01"
    p = subprocess.run([*MEIBO, "terminal", "enroll", str(tdir), "--reader", READER_SLOT0, "--pin-file", str(pin_file),
                        "--hq", world.endpoint.address, "--now", EARLY_NOON.isoformat(), "--json"],
                       capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert (out["code"], out["terminal"], out["station"], out["roll_version"]) == ("ok", "T01", "E01", 1)

    [entry] = json.loads((world.hq.root / "terminals.json").read_text())
    t = TerminalDir(tdir)
    assert entry["terminal"] == "T01" and not entry["revoked"]
    assert entry["device_pub"] == t.device_pub.read_bytes().hex()
    assert cards.find_card(world.hq.root, card.state.serial.hex()).state is cards.CardRecordState.USED
    assert card.state.use_counter == 1
    assert t.identity().hq_address == world.hq.config().hq_address
    for f in ("election.toml", "terminal.toml", "keys/device.key", "keys/hq_roll.pub", "tls/client.pem",
              "tls/client.key", "tls/ca.pem", "store.db"):
        assert (tdir / f).exists(), f

    async def sync() -> int:
        host, port = world.hq.config().hq_address.rsplit(":", 1)
        node = HqNode(world.hq)
        runner = await serve(node, host, int(port))
        term = Terminal.open(t, CLOCK)
        agent = SyncAgent(t, term, SyncSettings(verdict_budget_s=5.0, backoff_initial_s=0.05))
        task = asyncio.create_task(agent.run())
        try:
            ids = [r[0] for r in term.store.conn.execute(
                "SELECT voter_id FROM voters WHERE status='registered' ORDER BY voter_id LIMIT 50")]
            for vid in ids:
                local = term.checkin(vid, "clerk1")
                if local.seq is not None:
                    res = await agent.resolve(local.seq, [c.contest for c in local.handed])
                    assert not res.provisional, res
                    break
            else:
                pytest.fail("no eligible voter in the synthetic roll")
            return node.ledger.terminals["T01"].acked_seq
        finally:
            agent.stop()
            await asyncio.gather(task, return_exceptions=True)
            term.close()
            await node.stop()
            await runner.cleanup()

    assert asyncio.run(sync()) >= 1


# --- card refusals ---------------------------------------------------------------------------

def test_wrong_pin_shows_tries_left_and_changes_nothing(world: World) -> None:
    world.issue()
    before = world.snapshot()
    e = refused(world, world.tmp / "T01", "wrong_pin", pin="999999")
    assert e.details["tries_left"] == 2 and "あと 2 回" in e.message
    assert_nothing_changed(world, before, world.tmp / "T01")


def test_locked_card_is_refused_before_any_pin(world: World) -> None:
    world.issue(state_change={"pin_tries": 0})
    before = world.snapshot()
    refused(world, world.tmp / "T01", "card_locked")
    assert_nothing_changed(world, before, world.tmp / "T01")


def test_card_of_another_election(world: World) -> None:
    world.issue(election="other-2027", record=False)  # points at this HQ, but for another election
    before = world.snapshot()
    e = refused(world, world.tmp / "T01", "card_other_election")
    assert "別の選挙" in e.message
    assert_nothing_changed(world, before, world.tmp / "T01")


def test_card_already_used(world: World) -> None:
    world.issue(state_change={"use_counter": 1})
    before = world.snapshot()
    refused(world, world.tmp / "T01", "card_already_used")
    assert world.snapshot() == before and not (world.tmp / "T01").exists()


def test_cancelled_card(world: World) -> None:
    card = world.issue()
    cards.cancel(world.hq.root, card.state.serial.hex(), "紛失", CLOCK)
    before = world.snapshot()
    e = refused(world, world.tmp / "T01", "card_cancelled")
    assert "取り消され" in e.message
    assert_nothing_changed(world, before, world.tmp / "T01")


@pytest.mark.parametrize("ins", [0x88, 0xE2], ids=["internal_authenticate", "mark_used"])
def test_card_pulled_mid_enrollment(world: World, ins: int) -> None:
    card = world.issue()
    before = world.snapshot()
    card.pull_on(ins)
    e = refused(world, world.tmp / "T01", "card_removed")
    assert "抜かれました" in e.message
    assert card.state.use_counter == 0
    world.card = None  # already out
    assert_nothing_changed(world, before, world.tmp / "T01")
    card.insert()  # put back: the same card enrolls the terminal
    world.card = card
    assert PcscCardReader().wait_for_card(READER_SLOT0, 5.0)
    assert world.enroll(world.tmp / "T01").terminal == "T01"


# --- HQ refusals -----------------------------------------------------------------------------

def test_hq_unreachable(world: World) -> None:
    world.issue()
    before = world.snapshot()
    e = refused(world, world.tmp / "T01", "hq_unreachable", hq=f"127.0.0.1:{_free_port()}")
    assert "接続できません" in e.message
    assert_nothing_changed(world, before, world.tmp / "T01")


def test_hq_with_a_certificate_not_matching_the_card(world: World) -> None:
    world.issue()
    other = make_hq(world.tmp / "impostor", voters=50)  # same election id, its own CA
    ep = ThreadEndpoint(other)
    try:
        before, before_other = world.snapshot(), (other.root / "terminals.json").read_bytes()
        e = refused(world, world.tmp / "T01", "hq_not_trusted", hq=ep.address)
        assert "一致しません" in e.message
        assert_nothing_changed(world, before, world.tmp / "T01")
        assert (other.root / "terminals.json").read_bytes() == before_other
    finally:
        ep.stop()


def test_already_enrolled_needs_replace_which_revokes_the_old_identity(world: World) -> None:
    from cryptography import x509

    world.issue(seed=7)
    first = world.enroll(world.tmp / "T01")
    world.issue(seed=8)  # a second card for the same terminal (the first is used)

    before = world.snapshot()
    refused(world, world.tmp / "T01", "already_enrolled")  # this directory holds an enrolled terminal
    assert world.snapshot() == before
    refused(world, world.tmp / "T01-new", "terminal_already_enrolled")  # a new machine, same terminal id
    assert_nothing_changed(world, before, world.tmp / "T01-new")

    second = world.enroll(world.tmp / "T01", replace=True)
    old, new = json.loads((world.hq.root / "terminals.json").read_text())
    assert old["revoked"] and old["revoked_reason"].startswith("再登録") and not new["revoked"]
    assert new["tls_serials"] == [second.tls_serial]
    crl = x509.load_pem_x509_crl(pki.PkiPaths(world.hq.pki).crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(first.tls_serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(second.tls_serial) is None
    assert second.replaced is not None and Path(second.replaced).exists()  # the old journal is kept
