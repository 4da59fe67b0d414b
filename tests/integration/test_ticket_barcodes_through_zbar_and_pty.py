"""Real ticket barcodes end to end: images rendered by BWIPP (treepoem + ghostscript), read back
by the real decoder (zbarimg, zbar-tools), the decoded text sent through a real pty as the scanner
to the real pyserial driver, and its events to the kiosk presenter.

For NW-7, zbar prints the start/stop characters (``A13100001xB``), which is what a scanner set to
transmit them sends and what ``symbology = "nw7"`` expects. zbar 0.23.92 decodes none of our
images whose stop character is A or D (A…A, D…D, D…A), while A…B, B…B and C…C read: the test
uses A…B, the start/stop pair of the published モジュラス16 example.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import treepoem

from ground.barcode import make_barcode
from ground.clock import FixedClock
from ground.config import parse_config
from ground.model import BarcodeFormat, ElectionConfig
from hardware.scanner.base import ScanEvent, ScannerConnected
from hardware.scanner.driver import SerialScanner
from hardware.scanner.simulator import ScannerPtyServer, ScannerSimulator
from hardware.settings import ScannerSettings, Suffix
from tests.builders import EARLY_NOON, election_toml
from tests.unit.ui_kivy.conftest import VOTERS
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.flows.lookup import MISREAD, OTHER_ELECTION

pytestmark = pytest.mark.skipif(shutil.which("zbarimg") is None or shutil.which("gs") is None,
                                reason="needs zbar-tools and ghostscript (make installs them)")

# symbology → (the [barcode] settings, the BWIPP encoder, its options)
CASES: dict[str, tuple[str, str, dict[str, str | bool]]] = {
    "nw7": ('symbology = "nw7"\ncheck = "mod16"\nnw7_start = "A"\nnw7_stop = "B"\nprefix = "13"',
            "rationalizedCodabar", {}),
    "code128": ('symbology = "code128"\ncheck = "mod10w31"\nprefix = "13"\nvoter_digits = 6', "code128", {}),
    "qr": ('symbology = "qr"\ncheck = "mod11"\nqr_separator = "|"\nqr_fields = ["election", "district", "voter"]',
           "qrcode", {"eclevel": "M"}),
}


def _config(settings: str) -> ElectionConfig:
    return parse_config((election_toml() + "\n[barcode]\n" + settings + "\n").encode("utf-8"))


def _print_and_read(text: str, encoder: str, options: dict[str, str | bool], tmp_path: Path) -> str:
    """Render ``text`` as a barcode image and read it back with zbarimg, as a scanner would."""
    png = tmp_path / f"{encoder}-{abs(hash(text))}.png"
    treepoem.generate_barcode(encoder, text, options).convert("1").save(png)
    out = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.rstrip("\n")


def _screen(flow: KioskFlow) -> Screen:
    return flow.screen  # read afresh after each event (mypy would keep the first narrowing)


def _forged(fmt: BarcodeFormat, voter: str) -> str:
    """The same ticket with its check character wrong (what a smudged print misreads as)."""
    good = make_barcode(voter, fmt, "03")
    if fmt.symbology == "nw7":
        i = len(good) - 2
        return good[:i] + ("0" if good[i] != "0" else "1") + good[i + 1:]
    return good[:-1] + str((int(good[-1]) + 1) % 10)


@pytest.mark.parametrize("symbology", list(CASES))
async def test_printed_ticket_finds_voter_misread_and_other_election_told_apart(
        symbology: str, tmp_path: Path) -> None:
    settings, encoder, options = CASES[symbology]
    config = _config(settings)
    fmt = config.barcode
    assert fmt.symbology == symbology
    other = replace(fmt, prefix="14") if symbology != "qr" else replace(fmt, election="kawasaki-2027")

    good = _print_and_read(make_barcode("100001", fmt, "03"), encoder, options, tmp_path)
    misread = _print_and_read(_forged(fmt, "100001"), encoder, options, tmp_path)
    foreign = _print_and_read(make_barcode("100001", other, "03"), encoder, options, tmp_path)
    if symbology == "nw7":
        assert good[0] + good[-1] == "AB", good  # zbar keeps the start/stop characters

    service = FakeKioskService(config, config.station("E01"), list(VOTERS), FixedClock(EARLY_NOON))
    service.set_station("open", "管理者")
    flow = KioskFlow(service, "係員A")
    sim = ScannerSimulator(Suffix.CR)
    server = await ScannerPtyServer(sim, tmp_path / "by-id" / "scanner").start()
    scanner = SerialScanner(server.path, fmt, settings=ScannerSettings(suffix=Suffix.CR),
                            clock=FixedClock(EARLY_NOON))
    q: asyncio.Queue[ScanEvent] = scanner.event_queue()
    await scanner.start()
    try:
        assert isinstance(await asyncio.wait_for(q.get(), 10), ScannerConnected)

        async def scan(text: str) -> ScanEvent:
            sim.scan(text)
            ev = await asyncio.wait_for(q.get(), 10)
            flow.on_scan_event(ev)
            return ev

        ev = await scan(misread)
        assert ev.kind == "misread" and _screen(flow) is Screen.IDLE
        assert flow.notice is not None and flow.notice.text == MISREAD
        ev = await scan(foreign)
        assert ev.kind == "other_election" and _screen(flow) is Screen.IDLE
        assert flow.notice is not None and flow.notice.text == OTHER_ELECTION
        ev = await scan(good)
        assert ev.kind == "voter" and _screen(flow) is Screen.CONFIRM
        assert flow.confirm is not None and flow.confirm.name == "山田 太郎"
    finally:
        await scanner.close()
        await server.close()
