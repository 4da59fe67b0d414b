"""LTE modem (3GPP TS 27.007): status, errors, pure AT parser, real driver, simulator, dual failover.

Import the names from here; the submodules are the parts (see docs/hardware.md).
"""

from hardware.modem.base import (ApnCheck, Modem, ModemClosed, ModemCommandFailed, ModemError,
                                 ModemNotResponding, ModemPortUnavailable, ModemState, ModemStatus,
                                 Registration, SimMissing, SimPinRequired, rssi_to_bars)

__all__ = ["ApnCheck", "Modem", "ModemClosed", "ModemCommandFailed", "ModemError", "ModemNotResponding",
           "ModemPortUnavailable", "ModemState", "ModemStatus", "Registration", "SimMissing",
           "SimPinRequired", "rssi_to_bars"]
