"""Smart-card reader (ICカードリーダー): the ``CardReader`` protocol, a PC/SC driver and an in-process fake.

``base`` holds the protocol, the typed errors and the settings; ``pcsc`` the real driver over
pyscard/pcscd (imported lazily: pyscard is an optional dependency); ``fake`` the in-process
reader used by unit tests. One contract suite (tests/contracts/test_card_reader_contract.py)
runs against both.
"""

from hardware.cardreader.base import (CardAbsent, CardChannel, CardReader, CardReaderError,
                                      CardReaderSettings, CardRemoved, NoReader, ReaderError)

__all__ = ["CardAbsent", "CardChannel", "CardReader", "CardReaderError", "CardReaderSettings",
           "CardRemoved", "NoReader", "ReaderError"]
