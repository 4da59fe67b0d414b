"""Real PC/SC for tests: a private pcscd with the vpcd virtual reader, and the project's virtual card.

Use from a test module (or a conftest) with
``from tests.pcsc_fixtures import pcscd_service, pcsc_reader, virtual_card  # noqa: F401``.

- ``pcscd_service`` (per test, on one pcscd per session): starts ``pcscd --foreground`` in a private mount namespace
  (``unshare --mount``; ``--user --map-root-user`` when not root), with /run/pcscd bound to a temp
  directory and its own reader.conf.d naming vpcd on a free port pair (slot 0 = port, slot 1 =
  port + 1). So it never meets a system pcscd nor another test run, and Debian's
  /etc/reader.conf.d/vpcd is not touched. Skips with the reason when pcscd cannot start.
- ``pcsc_reader``: a ``PcscCardReader`` talking to it.
- ``virtual_card``: a blank ``VirtualCard`` inserted in slot 0 (memory in tmp_path/card.json).
- Every test using them starts with both slots empty and ends with its cards pulled; a card the
  test leaves behind (e.g. from a process it started) fails that test, not the next one (see
  ``pcscd_service``).

Why the environment variable is set at import: libpcsclite reads ``PCSCLITE_CSOCK_NAME`` (where
pcscd's socket is) once per process, at the first PC/SC call, and caches it. Setting it when this
module is imported (at collection, before any test runs) makes every later call in this process,
and every child process (``meibo`` run as a subprocess), find the private pcscd.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioning import pcsc_service as _svc
from provisioning.applet import Applet, CardState, blank_card
from provisioning.card_client import Personalisation
from provisioning.pcsc_service import READER_SLOT0, READER_SLOT1, PcscUnavailable  # noqa: F401
from provisioning.virtual_card import VirtualCard, VirtualCardSettings

RUN_DIR = Path(tempfile.gettempdir()) / f"meibo-pcscd-{os.getpid()}"
SOCKET = RUN_DIR / "run" / "pcscd.comm"
os.environ["PCSCLITE_CSOCK_NAME"] = str(SOCKET)

START_TIMEOUT_S = 10.0


@dataclass
class PcscdService(_svc.PcscdService):
    """provisioning/pcsc_service.py's service, plus ``card()`` for tests."""

    issued: list[VirtualCard] = field(default_factory=list)  # pulled by the fixture after each test

    def card(self, state: CardState, *, slot: int = 0, state_path: Path | None = None,
             seed: int = 0) -> VirtualCard:
        """A virtual card for ``slot`` (not inserted yet: call ``insert()``); the ``pcscd_service``
        fixture pulls it when the test ends."""
        card = VirtualCard(state, random.Random(seed).randbytes, port=self.port(slot),
                           state_path=state_path, settings=VirtualCardSettings(connect_timeout_s=5.0))
        self.issued.append(card)
        return card


def start_pcscd(run_dir: Path = RUN_DIR) -> PcscdService:
    """Start a private pcscd with vpcd; raise ``PcscUnavailable`` saying why when it cannot."""
    if os.environ.get("PCSCLITE_CSOCK_NAME") != str(_svc.socket_path(run_dir)):
        raise PcscUnavailable("PCSCLITE_CSOCK_NAME was changed after tests/pcsc_fixtures.py set it")
    base = _svc.start_pcscd(run_dir, _svc.PcscdSettings(start_timeout_s=START_TIMEOUT_S))
    return PcscdService(base.process, base.vpcd_port, base.log, base.run_dir, base.readers)


def stop_pcscd(svc: _svc.PcscdService) -> None:
    _svc.stop_pcscd(svc)


def issued_state(perso: Personalisation, pin: str, *, seed: int = 7) -> tuple[CardState, bytes]:
    """A card as HQ issues it (run through the applet, no reader): (state, public key)."""
    from hardware.cardreader.fake import FakeCard, FakeCardReader
    from provisioning.card_client import CardClient

    rnd = random.Random(seed).randbytes
    fake = FakeCardReader()
    fake.plug("perso")
    card = FakeCard(fake, "perso", Applet(blank_card(rnd), rnd))
    card.insert()
    with fake.connect("perso") as ch:
        pub = CardClient(ch).personalise(perso, pin)
    return card.applet.state, pub


# One pcscd per process, however many modules import the fixture (each import registers its own
# session fixture): shared by reference count, stopped when the last user is done or at exit.
_shared: PcscdService | None = None
_users = 0
SLOT_WAIT_S = 5.0


def _stop_shared() -> None:
    global _shared
    if _shared is not None:
        stop_pcscd(_shared)
        _shared = None
        shutil.rmtree(RUN_DIR, ignore_errors=True)


atexit.register(_stop_shared)


def _occupied(svc: PcscdService) -> list[str]:
    """The vpcd slots pcscd still sees a card in, after waiting for each to empty."""
    from hardware.cardreader.pcsc import PcscCardReader

    reader = PcscCardReader()
    try:
        return [name for name in (READER_SLOT0, READER_SLOT1)
                if not reader.wait_for_removal(name, SLOT_WAIT_S)]
    finally:
        reader.close()


def restart_pcscd(svc: PcscdService) -> None:
    """Stop pcscd and start a new one *into the same object* (tests hold references to it).

    This is the only way to empty a slot whose card belongs to a process we do not own (a
    ``meibo provision virtual-card`` that did not stop): vpcd drops every card connection with
    pcscd, and the new vpcd listens on other ports, so that card cannot come back."""
    stop_pcscd(svc)
    new = start_pcscd()
    svc.process, svc.vpcd_port, svc.log, svc.readers = new.process, new.vpcd_port, new.log, new.readers


@pytest.fixture(scope="session")
def _pcscd_process() -> Iterator[PcscdService]:
    global _shared, _users
    if _shared is None or _shared.process.poll() is not None:
        try:
            _shared = start_pcscd()
        except PcscUnavailable as e:
            pytest.skip(f"real PC/SC stack unavailable: {e}")
    _users += 1
    try:
        yield _shared
    finally:
        _users -= 1
        if _users == 0:
            _stop_shared()


@pytest.fixture
def pcscd_service(_pcscd_process: PcscdService) -> Iterator[PcscdService]:
    """The private pcscd, owned for one test: both vpcd slots are empty when the test starts, and
    every card made through ``card()`` or ``virtual_card`` is pulled when it ends.

    pcscd keeps reader state between tests, so a card left in a slot would make the next test's
    exchanges fail in ways that point nowhere near the cause. Before the test a slot still holding
    a card is emptied by restarting pcscd; after it, a slot left occupied (a card from a process the
    test started and did not stop) is emptied the same way and the test *fails* in teardown,
    naming the slot, so the leak is reported where it happened and nothing cascades."""
    svc = _pcscd_process
    if svc.process.poll() is not None or _occupied(svc):
        try:
            restart_pcscd(svc)
        except PcscUnavailable as e:
            pytest.fail(f"pcscd could not be restarted to empty its slots: {e}")
        if left := _occupied(svc):
            pytest.fail(f"vpcd slots still hold a card after a pcscd restart: {left}\n{svc.log_tail()}")
    svc.issued = []
    yield svc
    for card in svc.issued:
        card.remove()
    svc.issued = []
    if left := _occupied(svc):
        restart_pcscd(svc)
        pytest.fail(f"this test left a card in {left} (pcscd was restarted to empty it)")


@pytest.fixture
def pcsc_reader(pcscd_service: PcscdService) -> Iterator["object"]:
    from hardware.cardreader.pcsc import PcscCardReader
    r = PcscCardReader()
    yield r
    r.close()


@pytest.fixture
def virtual_card(pcscd_service: PcscdService, tmp_path: Path) -> Iterator[VirtualCard]:
    """A blank virtual card inserted in slot 0 (pcscd already sees it); memory in tmp_path/card.json.
    ``pcscd_service`` pulls it after the test."""
    from hardware.cardreader.pcsc import PcscCardReader

    card = VirtualCard.from_file(tmp_path / "card.json", random.Random(1).randbytes,
                                 port=pcscd_service.port(0), settings=VirtualCardSettings(connect_timeout_s=5.0))
    pcscd_service.issued.append(card)
    reader = PcscCardReader()
    try:
        card.insert()
        if not reader.wait_for_card(READER_SLOT0, 5.0):
            pytest.fail(f"pcscd did not see the virtual card:\n{pcscd_service.log_tail()}")
    finally:
        reader.close()
    yield card
