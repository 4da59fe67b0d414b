"""The PC/SC fixture owns the reader state: a card test that leaves a card in a vpcd slot (here a
card served by a process the test started and never stopped, like a ``meibo provision
virtual-card`` that missed its signal) fails *itself* in teardown, naming the slot, and the next
card test still starts with both slots empty instead of meeting a card it did not insert."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.pcsc
pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

INNER = '''
import random
import subprocess
import sys

from hardware.cardreader.pcsc import PcscCardReader
from provisioning.applet import blank_card
from tests.pcsc_fixtures import READER_SLOT0, READER_SLOT1


def test_a_leaks_a_card_from_a_process_it_started(pcscd_service, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "cli.main", "provision", "virtual-card",
                          "--vpcd-port", str(pcscd_service.port(1)), "--state", str(tmp_path / "c.json")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    LEAKED.append(p)
    assert PcscCardReader().wait_for_card(READER_SLOT1, 10)


def test_b_starts_with_both_slots_empty(pcscd_service):
    r = PcscCardReader()
    assert not r.card_present(READER_SLOT0)
    assert not r.card_present(READER_SLOT1)
    for p in LEAKED:
        p.kill()


LEAKED = []
'''


def test_a_leaked_card_fails_its_own_test_and_not_the_next(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    pytester.makeconftest("from tests.conftest import _pcscd_process, pcscd_service  # noqa: F401\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--rootdir={pytester.path}", "-o", f"pythonpath={ROOT}",
                                           timeout=240)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test_a_leaks_a_card*", "*this test left a card in*Virtual PCD 00 01*"])
