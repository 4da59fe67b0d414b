"""Lookup audit (閲覧記録): every roll lookup that shows personal data leaves a journal entry.

``audited_lookup`` is the one way a terminal serves a lookup to a person: it runs the query
(appliance/lookup.py, which only reads) and, before the result may be shown, appends one
``lookup`` entry per voter shown (who: clerk, when: the entry's HLC, which voter, why: ``scan``
for an 入場券 barcode, ``search`` for a number or kana search) in one durable transaction. The
entries travel to HQ with the journal; HQ's ledger keeps them as ``other_events``, never ballots.
If the audit cannot be written (disk full), the lookup fails: nothing is shown unrecorded.

Imports the terminal core and the lookup queries; no CLI, no network, no UI.
"""

from __future__ import annotations

from datetime import date

from appliance.lookup import LookupResult, by_barcode, by_kana, by_voter_id
from appliance.terminal import Terminal


def audited_lookup(term: Terminal, *, barcode: str | None = None, voter_id: str | None = None,
                   kana: str | None = None, birth: date | None = None,
                   clerk: str | None = None) -> LookupResult:
    """Exactly one of ``barcode`` / ``voter_id`` / ``kana``; the result is audited before return."""
    conn = term.store.conn
    if barcode is not None:
        res, via = by_barcode(conn, barcode, term.config.barcode), "scan"
    elif voter_id is not None:
        res, via = by_voter_id(conn, voter_id.strip()), "search"
    elif kana is not None:
        res, via = by_kana(conn, kana, birth), "search"
    else:
        raise ValueError("one of barcode, voter_id, kana is required")
    term.record_lookup([f.voter.voter_id for f in res.found], via, clerk)
    return res


def audit_shown(term: Terminal, result: LookupResult, via: str, clerk: str | None = None) -> None:
    """For callers that ran the query themselves (the kiosk presenter): audit what is shown."""
    term.record_lookup([f.voter.voter_id for f in result.found], via, clerk)
