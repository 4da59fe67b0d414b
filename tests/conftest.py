"""Fixtures every test directory can use. The PC/SC ones own the private pcscd and its two vpcd
slots (tests/pcsc_fixtures.py): each card test starts with empty slots and cannot leave a card
behind for the next one."""

from tests.pcsc_fixtures import _pcscd_process, pcsc_reader, pcscd_service, virtual_card  # noqa: F401
