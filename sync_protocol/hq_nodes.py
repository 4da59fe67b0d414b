"""Which HQ node the sync agent dials next, and how long it waits first. Pure: no I/O, no clock;
the jitter's random draw comes in as an argument.

election.toml's ``[hq] addresses`` lists every HQ node (one with ``address``). Exactly one of them
leads; the others refuse a terminal (REFUSED ``hq_fenced``) or are not listening at all. The
agent stays on a node while it works. When a node is lost (cannot connect, the link drops, or it
says it does not lead) the agent moves to the next one in the list, round and round.

Each node keeps its own back-off, the agent's existing one (initial, doubling up to the maximum,
± jitter): the wait before dialling a node is that node's back-off, and a failure doubles the
back-off of the node that failed. So after the leader dies the next node is tried after the
initial back-off, not after the dead one's grown back-off; with one node the waits are exactly
the single-address agent's. A node that answered (WELCOME) starts again from the initial back-off.

Never imports HQ, the screens, the CLI or anything that does I/O (the purity test checks it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ground.errors import MeiboError, UsageError

# election.toml's rule for one node (ground/config.py): a host name, IPv4 or [IPv6], and a port
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


@dataclass
class NodeState:
    address: str
    backoff_s: float
    failures: int = 0  # in a row, since it last answered
    last_error: str | None = None


def checked_addresses(addresses: Sequence[str]) -> list[str]:
    """HQ node addresses given by hand (``meibo terminal run --hq A --hq B``), in the order to
    try them, checked as election.toml checks ``[hq] addresses``: each ``host:port``
    (``hq_address_malformed``), none twice (``hq_address_duplicate``), at least one."""
    if not addresses:
        raise UsageError("本部のアドレスがありません", code="hq_addresses_empty")
    out: list[str] = []
    for a in addresses:
        m = _HOST_PORT.match(a)
        if m is None or not 0 < int(m.group(2)) < 65536:
            raise UsageError(f"本部のアドレスは host:port の形で指定してください: {a!r}", code="hq_address_malformed")
        if a in out:
            raise UsageError(f"本部のアドレスが重複しています: {a!r}", code="hq_address_duplicate")
        out.append(a)
    return out


class HqNodes:
    """The ring of HQ nodes. ``current`` is the node to dial; ``lost(...)`` returns the wait before
    dialling the new ``current``; ``reached()`` says the current node answered."""

    def __init__(self, addresses: Sequence[str], initial_s: float, max_s: float, jitter: float) -> None:
        if not addresses:
            raise MeiboError("本部のアドレスがありません", code="hq_addresses_empty")
        if len(set(addresses)) != len(addresses):
            raise MeiboError(f"本部のアドレスが重複しています: {list(addresses)}", code="hq_address_duplicate")
        self.initial_s, self.max_s, self.jitter = initial_s, max_s, jitter
        self.nodes = [NodeState(a, initial_s) for a in addresses]
        self.index = 0

    @property
    def current(self) -> str:
        return self.nodes[self.index].address

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(n.address for n in self.nodes)

    def reached(self) -> None:
        """The current node answered (WELCOME, or a link that ended cleanly): its back-off restarts."""
        node = self.nodes[self.index]
        node.backoff_s, node.failures, node.last_error = self.initial_s, 0, None

    def lost(self, reason: str, draw: float, *, slow: bool = False) -> float:
        """The current node failed for ``reason``: move to the next node and return how long to
        wait before dialling it. ``draw`` is a uniform random number in [0, 1) for the jitter.
        ``slow``: the node refused this terminal itself (revoked, another election): every node
        would, so the wait is the maximum back-off (the single-address agent's rule)."""
        failed = self.nodes[self.index]
        self.index = (self.index + 1) % len(self.nodes)
        nxt = self.nodes[self.index]
        base = self.max_s if slow else nxt.backoff_s  # read before the doubling: one node is its own next
        failed.failures += 1
        failed.last_error = reason
        failed.backoff_s = self.max_s if slow else min(failed.backoff_s * 2, self.max_s)
        return base * (1 + self.jitter * (2 * draw - 1))

    def status(self) -> list[dict[str, object]]:
        return [{"address": n.address, "current": i == self.index, "failures": n.failures,
                 "last_error": n.last_error} for i, n in enumerate(self.nodes)]


__all__ = ["HqNodes", "NodeState", "checked_addresses"]
