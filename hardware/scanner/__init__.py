"""入場整理券 barcode scanner: scan events, pure decoder, real driver, simulator (docs/hardware.md)."""

from hardware.scanner.base import (DoubleScan, Misread, OtherElection, ScanEvent, Scanner, ScannerClosed,
                                   ScannerConnected, ScannerDisconnected, ScannerError, ScannerPortUnavailable,
                                   ScannerStatus, VoterScanned)

__all__ = ["DoubleScan", "Misread", "OtherElection", "ScanEvent", "Scanner", "ScannerClosed", "ScannerConnected",
           "ScannerDisconnected", "ScannerError", "ScannerPortUnavailable", "ScannerStatus", "VoterScanned"]
