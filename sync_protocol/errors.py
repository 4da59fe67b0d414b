"""Errors of the sync package, named for what the caller does next."""

from __future__ import annotations

from ground.errors import MeiboError



class SyncError(MeiboError):
    code = "sync_error"


class FrameInvalid(SyncError):
    """A frame that does not decode: drop the connection, count it, never apply anything."""

    code = "frame_invalid"


class HeaderInvalid(FrameInvalid):
    """A frame that decodes but a header field is missing or of the wrong kind (headers.py):
    HQ answers REFUSED ``header_invalid`` and closes; the terminal drops the link and reconnects."""

    code = "header_invalid"

    def __init__(self, frame: str, field: str, missing: bool = False) -> None:
        message = f"{frame} に {field} がありません" if missing else f"{frame} の {field} が不正です"
        super().__init__(message, frame=frame, field=field)
        self.frame, self.field = frame, field


class BatchRejected(SyncError):
    """A batch that decodes but must not be applied (signature, identity, election)."""

    code = "batch_rejected"

