"""What HQ checks in a check-in's body before it becomes a ballot (issue 16). Pure: no I/O.

The certificate and the batch signature prove WHICH terminal speaks; what a check-in says
(station, contests, voter) is only that terminal's word. So before a check-in becomes a ballot
and a voted flag, HQ compares it with what HQ itself knows:

- ``station_mismatch``: the station is not the one HQ's registry enrolled this terminal at. The
  whole check-in is refused: no ballot, no flag, never recorded as the station it claims.
- ``voter_unknown``: the voter is not on the roll HQ published (main or 在外). Kept as evidence
  and alerted, never counted as a ballot or a flag.
- ``contest_unknown``: a contest that is not in election.toml. That contest is refused; the
  check-in's real contests still count (the voter did receive those ballots).

A refused check-in stays in the terminal's hash chain: it is signed and chained like any other
event, so HQ stores it and acknowledges its sequence number (refusing the batch instead would
leave the terminal resending it forever, and skipping it would break the chain at the next
batch). It only never becomes a ballot: no verdict for it goes back (the terminal treats the
check-in as provisional once its budget is over), and a withheld/void marker naming it finds
nothing. Every refusal is a ``Refusal`` in ``Ledger.refusals``, shown in HQ's report. Like every
other ledger state it is a function of the stored events, rebuilt the same on replay (given the
same registry, election.toml and published roll).
"""

from __future__ import annotations

from typing import Any, Container, Mapping, NamedTuple

from ground.model import StationId, TerminalId, VoterId

STATION_MISMATCH = "station_mismatch"
VOTER_UNKNOWN = "voter_unknown"
CONTEST_UNKNOWN = "contest_unknown"
# a real check-in from a station one of whose terminals is still in test mode (hq/rehearsal.py):
# refused as a whole, and the terminal is told so (a verdict "R", never オフライン受付)
STATION_IN_REHEARSAL = "station_in_rehearsal"
# the station HQ gives a terminal it replays events of but no longer has in its registry
UNKNOWN_STATION = StationId("?")

_MESSAGES = {
    STATION_MISMATCH: "登録された投票所（{registered}）と異なる投票所（{claimed}）の受付として送られました。投票済として記録していません",
    VOTER_UNKNOWN: "公開した選挙人名簿にない選挙人（{voter}）の受付です。証拠として保存し、投票済として数えていません",
    CONTEST_UNKNOWN: "この選挙にない選挙（{contests}）の受付です。その選挙は記録していません",
    STATION_IN_REHEARSAL: "試験モードの端末が残っている投票所（{registered}）の受付です。投票済として記録していません",
}


class Refusal(NamedTuple):
    """One check-in (or some of its contests) HQ did not count, and why (``code``)."""

    terminal: TerminalId
    seq: int
    code: str
    voter: VoterId
    contests: tuple[str, ...]  # the contests refused (all of the check-in's, but for contest_unknown)
    claimed_station: StationId
    registered_station: StationId
    hlc: int
    clerk: str = ""

    def message(self) -> str:
        return _MESSAGES[self.code].format(registered=self.registered_station, claimed=self.claimed_station,
                                           voter=self.voter, contests="、".join(self.contests))

    def as_dict(self) -> dict[str, Any]:
        return {"terminal": self.terminal, "seq": self.seq, "code": self.code, "voter": self.voter,
                "contests": list(self.contests), "claimed_station": self.claimed_station,
                "registered_station": self.registered_station, "hlc": self.hlc, "clerk": self.clerk,
                "message": self.message()}


def needs_screen(data: Mapping[str, Any], registered: StationId, contests: frozenset[str] | None,
                 roll: Container[str] | None) -> bool:
    """True unless the check-in is plainly fine (the ingest path's quick test)."""
    return ((data.get("station") != registered and registered != UNKNOWN_STATION)
            or (contests is not None and not contests.issuperset(data["contests"]))
            or (roll is not None and data["voter"] not in roll))


def screen_checkin(terminal: TerminalId, seq: int, hlc: int, data: Mapping[str, Any], registered: StationId,
                   contests: frozenset[str] | None, roll: Container[str] | None
                   ) -> tuple[tuple[str, ...], list[Refusal]]:
    """The contests of the check-in that count as ballots (none: the whole check-in is
    refused) and the refusals, first failing rule first."""
    claimed = StationId(str(data.get("station", "")))
    voter = VoterId(str(data["voter"]))
    cs = tuple(str(c) for c in data["contests"])
    clerk = str(data.get("clerk", ""))

    def refusal(code: str, which: tuple[str, ...]) -> Refusal:
        return Refusal(terminal, seq, code, voter, which, claimed, registered, hlc, clerk)

    if claimed != registered and registered != UNKNOWN_STATION:
        return (), [refusal(STATION_MISMATCH, cs)]
    if roll is not None and voter not in roll:
        return (), [refusal(VOTER_UNKNOWN, cs)]
    if contests is not None:
        unknown = tuple(c for c in cs if c not in contests)
        if unknown:
            return tuple(c for c in cs if c in contests), [refusal(CONTEST_UNKNOWN, unknown)]
    return cs, []


def rehearsal_refusal(terminal: TerminalId, seq: int, hlc: int, data: Mapping[str, Any],
                      registered: StationId) -> Refusal:
    """The whole check-in refused: its station still has a terminal in test mode."""
    return Refusal(terminal, seq, STATION_IN_REHEARSAL, VoterId(str(data["voter"])),
                   tuple(str(c) for c in data["contests"]), StationId(str(data.get("station", ""))), registered,
                   hlc, str(data.get("clerk", "")))


__all__ = ["Refusal", "screen_checkin", "needs_screen", "rehearsal_refusal", "STATION_MISMATCH", "VOTER_UNKNOWN",
           "CONTEST_UNKNOWN", "STATION_IN_REHEARSAL", "UNKNOWN_STATION"]
