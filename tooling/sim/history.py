"""What happened, as the checker needs it: what poll workers were told, which verdicts arrived,
and violations spotted while running. Written by terminal.py and hq.py, read by checker.py.
Lives outside every simulated node, so a crash never erases it. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Told:
    """A poll worker was told the outcome of a check-in (acknowledged, in Jepsen's words)."""

    terminal: str
    seq: int
    voter: str
    handed: tuple[str, ...]  # ballots the poll worker was told to hand over
    at: int


@dataclass(frozen=True)
class AlreadyVotedSeen:
    terminal: str
    seq: int
    contest: str
    first_terminal: str
    first_hlc: int
    first_station: str
    at: int


@dataclass
class History:
    told: list[Told] = field(default_factory=list)
    already_voted: list[AlreadyVotedSeen] = field(default_factory=list)
    # (terminal, seq, contest) -> [(first terminal, first seq, HQ's ingest prefix of that terminal)]
    hq_verdicts: dict[tuple[str, int, str], list[tuple[str, int, int]]] = field(default_factory=dict)
    removals: list[tuple[str, str, str, int]] = field(default_factory=list)  # (where, voter, contest, at)
    violations: list[str] = field(default_factory=list)
    local_stops: int = 0
    interrupted: int = 0

    def violate(self, at: int, what: str) -> None:
        self.violations.append(f"t={at}ms {what}")
