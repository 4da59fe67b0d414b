"""Errors of the sync package, named for what the caller does next."""

from __future__ import annotations

from appliance.errors import MeiboError


class SyncError(MeiboError):
    code = "sync_error"


class FrameInvalid(SyncError):
    """A frame that does not decode: drop the connection, count it, never apply anything."""

    code = "frame_invalid"


class BatchRejected(SyncError):
    """A batch that decodes but must not be applied (signature, identity, election)."""

    code = "batch_rejected"


class HqUnreachable(SyncError):
    code = "hq_unreachable"


class IllegalTransition(SyncError):
    code = "illegal_transition"
