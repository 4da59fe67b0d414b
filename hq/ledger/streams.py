"""The two append-only sequences the ledger keeps, in compact form: the voted-flag stream every
terminal follows by cursor (``FlagLog``, with the mark chain that names a stream at a cursor) and
each terminal's chain hashes (``ChainHashes``). Pure: no I/O.

Both hold plain tuples or one byte buffer rather than a Python object per entry, because HQ keeps
one or two flags and one hash per ingested event all day (see each class for what that saves).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Iterator, NamedTuple, overload

from ground.model import StationId, TerminalId, VoterId


class Flag(NamedTuple):
    """One change of the voted-flag stream: +1 voter received contest there, -1 released."""

    cursor: int
    voter: VoterId
    contest: str
    delta: int
    station: StationId
    terminal: TerminalId
    seq: int
    hlc: int

    def wire(self) -> tuple[object, ...]:
        return (self.cursor, self.voter, self.contest, self.delta, self.station, self.terminal, self.seq, self.hlc)



class FlagLog:
    """The voted-flag stream (``flags[i]`` has cursor i+1): ``Flag`` outside, plain tuples
    inside, so that the GC stops tracking them (it never untracks a NamedTuple; HQ holds one
    or two flags per check-in). ``wire_after`` hands the tuples out as they are."""

    __slots__ = ("_rows", "_marks")

    def __init__(self, flags: Iterable[Flag] = ()) -> None:
        self._rows: list[tuple[Any, ...]] = [tuple(f) for f in flags]
        self._marks = bytearray()  # 8 bytes per position, computed as far as ``mark`` was asked

    def mark(self, pos: int) -> str:
        """The stream's identity up to cursor ``pos``: a chain digest of its first ``pos`` flags
        (hex, "" at 0). A terminal keeps the mark with its cursor; a HELLO whose mark is not
        HQ's at that cursor comes from another stream (an HQ restored from a backup, then fed
        in a different order), and the terminal is sent the stream from the start. Computed
        lazily: a replay of millions of flags pays nothing for it, the first HELLO pays once."""
        if pos <= 0:
            return ""
        marks, rows = self._marks, self._rows
        done = len(marks) // 8
        if pos > done:
            h = bytes(marks[-8:]) if done else b""
            for r in rows[done:pos]:
                h = hashlib.blake2b(h + "\x1f".join(map(str, r)).encode("utf-8"), digest_size=8).digest()
                marks += h
        return marks[8 * (pos - 1):8 * pos].hex()

    def append(self, f: Flag | tuple[Any, ...]) -> None:
        self._rows.append(f if type(f) is tuple else tuple(f))

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> Flag: ...
    @overload
    def __getitem__(self, i: slice) -> list[Flag]: ...
    def __getitem__(self, i: int | slice) -> Flag | list[Flag]:
        if isinstance(i, slice):
            return [_tuple_new(Flag, r) for r in self._rows[i]]
        f: Flag = _tuple_new(Flag, self._rows[i])
        return f

    def __iter__(self) -> Iterator[Flag]:
        for r in self._rows:
            yield _tuple_new(Flag, r)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FlagLog):
            return self._rows == other._rows
        if isinstance(other, list):
            return self._rows == [tuple(f) for f in other]
        return NotImplemented

    def __repr__(self) -> str:
        return f"FlagLog(<{len(self)}>)"

    def wire_after(self, cursor: int, exclude_terminal: TerminalId | None, limit: int,
                   upto: int | None) -> tuple[list[tuple[Any, ...]], int]:
        """``Ledger.flags_after`` in wire form (``Flag.wire()``), without building a Flag each."""
        rows = self._rows
        end = len(rows) if upto is None else min(upto, len(rows))
        out: list[tuple[Any, ...]] = []
        pos = cursor
        while pos < end and len(out) < limit:
            r = rows[pos]
            pos += 1
            if r[5] != exclude_terminal:
                out.append(r)
        return out, pos



class ChainHashes:
    """Every chain hash of one terminal's journal, 32 bytes each in one buffer (``self[i]`` is
    the hash of seq i+1). Duplicate and clone detection compares a resent event with the hash
    HQ holds at its position, anywhere in the journal, so all of them stay; as one buffer they
    cost 32 B an event and no Python object each (a list of bytes cost ~90 B and GC work)."""

    __slots__ = ("_buf",)

    def __init__(self, hashes: Iterable[bytes] = ()) -> None:
        self._buf = bytearray()
        for h in hashes:
            self.append(h)

    def append(self, h: bytes) -> None:
        if len(h) != 32:
            raise ValueError("chain hashes are 32 bytes")
        self._buf += h

    def __len__(self) -> int:
        return len(self._buf) >> 5

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("chain hash index out of range")
        return bytes(self._buf[i << 5:(i + 1) << 5])

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ChainHashes):
            return self._buf == other._buf
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"ChainHashes(<{len(self)}>)"


_tuple_new: Any = tuple.__new__  # builds a NamedTuple in C, without its Python __new__
