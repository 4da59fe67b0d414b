"""Real PC/SC for tests: a private pcscd with the vpcd virtual reader, and the project's virtual card.

Use from a test module (or a conftest) with
``from tests.pcsc_fixtures import pcscd_service, pcsc_reader, virtual_card  # noqa: F401``.

- ``pcscd_service`` (session): starts ``pcscd --foreground`` in a private mount namespace
  (``unshare --mount``; ``--user --map-root-user`` when not root), with /run/pcscd bound to a temp
  directory and its own reader.conf.d naming vpcd on a free port pair (slot 0 = port, slot 1 =
  port + 1). So it never meets a system pcscd nor another test run, and Debian's
  /etc/reader.conf.d/vpcd is not touched. Skips with the reason when pcscd cannot start.
- ``pcsc_reader``: a ``PcscCardReader`` talking to it.
- ``virtual_card``: a blank ``VirtualCard`` inserted in slot 0 (memory in tmp_path/card.json),
  removed again in teardown.

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
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioning.applet import Applet, CardState, blank_card
from provisioning.card_client import Personalisation
from provisioning.virtual_card import VirtualCard, VirtualCardSettings

RUN_DIR = Path(tempfile.gettempdir()) / f"meibo-pcscd-{os.getpid()}"
SOCKET = RUN_DIR / "run" / "pcscd.comm"
os.environ["PCSCLITE_CSOCK_NAME"] = str(SOCKET)

READER_SLOT0 = "Virtual PCD 00 00"
READER_SLOT1 = "Virtual PCD 00 01"
START_TIMEOUT_S = 10.0


class PcscUnavailable(Exception):
    pass


@dataclass
class PcscdService:
    process: subprocess.Popen[bytes]
    vpcd_port: int  # slot 0; slot 1 listens on vpcd_port + 1
    log: Path
    readers: list[str]

    def reader_name(self, slot: int = 0) -> str:
        return READER_SLOT0 if slot == 0 else READER_SLOT1

    def port(self, slot: int = 0) -> int:
        return self.vpcd_port + slot

    def card(self, state: CardState, *, slot: int = 0, state_path: Path | None = None,
             seed: int = 0) -> VirtualCard:
        """A virtual card for ``slot`` (not inserted yet: call ``insert()``)."""
        return VirtualCard(state, random.Random(seed).randbytes, port=self.port(slot),
                           state_path=state_path, settings=VirtualCardSettings(connect_timeout_s=5.0))

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("0.0.0.0", 0))
            p = int(a.getsockname()[1])
            if p >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("0.0.0.0", p + 1))
                except OSError:
                    continue
            return p
    raise PcscUnavailable("no free port pair for vpcd")


def start_pcscd(run_dir: Path = RUN_DIR) -> PcscdService:
    """Start a private pcscd with vpcd; raise ``PcscUnavailable`` saying why when it cannot."""
    pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
    unshare = shutil.which("unshare")
    driver = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
    if pcscd is None:
        raise PcscUnavailable("pcscd is not installed (apt-get install pcscd)")
    if not driver.exists():
        raise PcscUnavailable("the vpcd driver is not installed (apt-get install vsmartcard-vpcd)")
    if unshare is None:
        raise PcscUnavailable("unshare (util-linux) is missing: cannot give pcscd a private /run/pcscd")
    try:
        from hardware.cardreader.pcsc import PcscCardReader
        import smartcard.scard  # noqa: F401
    except ImportError:
        raise PcscUnavailable("pyscard is not installed (.venv/bin/pip install pyscard)") from None
    if os.environ.get("PCSCLITE_CSOCK_NAME") != str(run_dir / "run" / "pcscd.comm"):
        raise PcscUnavailable("PCSCLITE_CSOCK_NAME was changed after tests/pcsc_fixtures.py set it")
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "run").mkdir(parents=True)
    conf = run_dir / "reader.conf.d"
    conf.mkdir()
    port = _free_port_pair()
    (conf / "vpcd").write_text(
        'FRIENDLYNAME "Virtual PCD"\n'
        f"DEVICENAME   /dev/null:0x{port:04X}\n"
        f"LIBPATH      {driver}\n"
        f"CHANNELID    0x{port:04X}\n")
    log = run_dir / "pcscd.log"
    inner = (f"mkdir -p /run/pcscd && mount --bind {run_dir / 'run'} /run/pcscd && "
             f"exec {pcscd} --foreground --info -c {conf}")
    ns = ["--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        ns = ["--user", "--map-root-user"] + ns
    with open(log, "wb") as out:
        proc = subprocess.Popen([unshare, *ns, "sh", "-c", inner], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    svc = PcscdService(proc, port, log, [])
    deadline = time.monotonic() + START_TIMEOUT_S
    reader = PcscCardReader()
    last = ""
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise PcscUnavailable(f"pcscd exited with {proc.returncode}:\n{svc.log_tail()}")
            if SOCKET.exists() or (run_dir / "run" / "pcscd.comm").exists():
                try:
                    names = reader.readers()
                    if READER_SLOT0 in names:
                        svc.readers = names
                        return svc
                    last = f"readers so far: {names}"
                except Exception as e:  # still starting
                    last = str(e)
            time.sleep(0.1)
        raise PcscUnavailable(f"pcscd did not show the vpcd reader within {START_TIMEOUT_S}s ({last}):\n"
                              f"{svc.log_tail()}")
    except BaseException:
        stop_pcscd(svc)
        raise
    finally:
        reader.close()


def stop_pcscd(svc: PcscdService) -> None:
    p = svc.process
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


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


def _stop_shared() -> None:
    global _shared
    if _shared is not None:
        stop_pcscd(_shared)
        _shared = None
        shutil.rmtree(RUN_DIR, ignore_errors=True)


atexit.register(_stop_shared)


@pytest.fixture(scope="session")
def pcscd_service() -> Iterator[PcscdService]:
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
def pcsc_reader(pcscd_service: PcscdService) -> Iterator["object"]:
    from hardware.cardreader.pcsc import PcscCardReader
    r = PcscCardReader()
    yield r
    r.close()


@pytest.fixture
def virtual_card(pcscd_service: PcscdService, tmp_path: Path) -> Iterator[VirtualCard]:
    """A blank virtual card inserted in slot 0 (pcscd already sees it); memory in tmp_path/card.json.

    Teardown pulls it and waits until pcscd sees the slot empty, so the next test starts clean."""
    from hardware.cardreader.pcsc import PcscCardReader

    card = VirtualCard.from_file(tmp_path / "card.json", random.Random(1).randbytes,
                                 port=pcscd_service.port(0), settings=VirtualCardSettings(connect_timeout_s=5.0))
    reader = PcscCardReader()
    card.insert()
    try:
        if not reader.wait_for_card(READER_SLOT0, 5.0):
            pytest.fail(f"pcscd did not see the virtual card:\n{pcscd_service.log_tail()}")
        yield card
    finally:
        card.remove()
        reader.wait_for_removal(READER_SLOT0, 5.0)
        reader.close()
