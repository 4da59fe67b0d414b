"""The rehearsal's election id (リハーサル, 試験モード): the one thing that keeps test records apart.

Pure: standard library only; ground imports nothing of meibo's own.

A rehearsal runs the real equipment against a test roll, a test journal and HQ's test ledger. It
never shares an id with the election: every test record is made for ``rehearsal_id(election)``,
so its journal chain starts from another genesis hash, its roll package names another election,
and its HELLO names another election. HQ's real ledger, a real terminal's store and a real
journal already refuse another election's records (the election check that stops a ticket or a
package from a neighbouring town), so a test record cannot reach them by mistake or by replay:
the separation is the same check that is tested every day, not a flag someone may forget.

ground/config.py refuses a real election id that ends with ``SUFFIX``, so no real election can
be named like another's rehearsal.
"""

from __future__ import annotations

SUFFIX = ".rehearsal"


def rehearsal_id(election_id: str) -> str:
    """The id every test record of ``election_id``'s rehearsal is made for."""
    if is_rehearsal(election_id):
        raise ValueError(f"already a rehearsal id: {election_id!r}")
    return election_id + SUFFIX


def is_rehearsal(election_id: str) -> bool:
    return election_id.endswith(SUFFIX)


def real_id(election_id: str) -> str:
    """The election a rehearsal id belongs to (the id itself when it is real)."""
    return election_id[: -len(SUFFIX)] if is_rehearsal(election_id) else election_id


__all__ = ["SUFFIX", "rehearsal_id", "is_rehearsal", "real_id"]
