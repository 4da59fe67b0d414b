"""Every meibo error: the root (``MeiboError``) and the subclasses, named for what the caller does next.

Each error carries a stable English ``code`` (printed by ``--json``) and a Japanese message for
poll workers and HQ staff. ``where`` says where bad input was found (file, row, column, field).
Subclasses are named for what the caller does next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and where: used to list *all* problems of a file."""

    code: str
    message: str  # Japanese
    file: str | None = None
    row: int | None = None
    column: str | None = None

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"{self.row}行目")
        if self.column:
            parts.append(f"列「{self.column}」")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in {"code": self.code, "message": self.message, "file": self.file,
                                   "row": self.row, "column": self.column}.items() if v is not None}


class MeiboError(Exception):
    """Root of every meibo error. ``code`` is stable English; ``message`` is Japanese."""

    code = "error"
    exit_status = 1

    def __init__(self, message: str, *, code: str | None = None,
                 problems: list[Problem] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.problems: list[Problem] = list(problems or [])
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": "error", "code": self.code, "message": self.message}
        if self.problems:
            d["problems"] = [p.as_dict() for p in self.problems]
        if self.details:
            d["details"] = {k: (str(v) if not isinstance(v, (int, float, str, bool, list, dict, type(None))) else v)
                            for k, v in self.details.items()}
        return d


class IllegalTransition(MeiboError):
    """A step a state machine does not allow from where it is (a frame out of turn, a button on the
    wrong screen, an enrollment step out of order). The one class for every state machine: refuse
    the step, change nothing, and say where it was (``details``)."""

    code = "illegal_transition"


class HqUnreachable(MeiboError):
    """HQ (本部) cannot be reached now: carry on offline (オフライン受付) and try again later."""

    code = "hq_unreachable"


class ApplianceError(MeiboError):
    """Base of the terminal package's errors."""


class ConfigInvalid(ApplianceError):
    code = "config_invalid"


class RollInvalid(ApplianceError):
    """The roll file has bad rows; nothing was imported. ``problems`` lists every one."""

    code = "roll_invalid"


class RollSignatureInvalid(ApplianceError):
    code = "roll_signature_invalid"


class RollRejected(ApplianceError):
    """A verified roll that must not be installed (other election, older version)."""

    code = "roll_rejected"


class NotFound(ApplianceError):
    code = "not_found"


class BarcodeInvalid(ApplianceError):
    code = "barcode_invalid"


class JournalCorrupt(ApplianceError):
    code = "journal_corrupt"


class StationClosed(ApplianceError):
    code = "station_closed"


class StorageFailed(ApplianceError):
    """The disk refused the write (full, read-only): the check-in was NOT recorded."""

    code = "storage_failed"


class UsageError(ApplianceError):
    code = "usage"
    exit_status = 2
