"""HQ's ledger (名簿対照 at HQ): first writer wins per voter and contest, double-vote alerts,
clone alarms, and the ordered stream of voted flags every terminal follows. Pure: no I/O.

HQ is event-sourced: the ledger's whole state is a function of the journal events it accepted, in
HQ's ingest order. The adapter stores the events durably and, after a restart, replays them
through ``apply()`` to rebuild exactly the same verdicts, alerts and flag stream (cursors stay
valid across restarts). Verification (``check_batch``) happens before anything is applied.

A ballot of contest *c* handed to voter *v* is a ``checkin`` event naming *c*, unless
- HQ answered ALREADY_VOTED for it and the terminal then wrote ``withheld`` (the poll worker was
  told within the budget and handed nothing), or
- it was voided (``void``: the voter left without voting).
While HQ's ALREADY_VOTED answer awaits the terminal's marker (``withheld`` or ``provisional``)
the contest is *pending*: not (yet) a ballot. Two or more ballots of one contest for one voter is
a double vote (二重投票): an alert holding every ballot. Verdicts are fixed at first ingest, so a
resent batch gets the same answer it got the first time.

A check-in's station, voter and contests are the terminal's word: ``_apply`` screens them against
the registry, election.toml and the published roll first (screen.py); a refused check-in stays in
the chain (acknowledged like any event) but is a ``Refusal``, never a ballot or a flag.

The package holds four rooms: ``verdicts`` (what is decided and held per check-in), ``streams``
(the voted-flag stream with its mark chain, and each terminal's chain hashes), ``core`` (the
``Ledger`` that verifies and applies) and ``replay`` (HQ's cold start: stored events back into a
ledger, the same as decoding and applying them, cheaper). The names are re-exported here, so ``from hq.ledger import X``
keeps working.
"""

from ground.model import HQ_TERMINAL
from hq.ledger.core import HQ_STATION, BatchCheck, Ledger, TermState
from hq.ledger.streams import ChainHashes, Flag, FlagLog
from hq.ledger.verdicts import (Alarm, Alert, BallotMap, BallotRef, CheckinMap, CheckinRec, ContestVerdict, CState,
                                Verdict)

__all__ = ["Ledger", "BallotMap", "Verdict", "ContestVerdict", "Flag", "FlagLog", "ChainHashes", "Alert", "Alarm", "BallotRef", "BatchCheck",
           "HQ_TERMINAL", "HQ_STATION", "CState", "CheckinMap", "CheckinRec", "TermState"]
