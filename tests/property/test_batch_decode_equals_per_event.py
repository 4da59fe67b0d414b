"""HQ decodes a batch's events at once (``ground.events.decode_batch``: one canonical-form
check for the whole batch). It must give exactly what decoding each event did: the same events,
or the same first refusal (code and message) — for canonical batches, non-canonical ones
(reordered keys, spaces, escapes), tampered bytes, and raw pieces whose joins would parse as
other events (boundaries that shift when the pieces are glued with commas)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from ground.errors import JournalCorrupt
from ground.events import Event, EventKind, decode, decode_batch


def _outcome(fn: Any, raws: list[bytes]) -> tuple[str, Any]:
    try:
        evs = fn(raws)
    except JournalCorrupt as e:
        return ("refused", (e.code, e.message))
    return ("ok", [(e, e.encode()) for e in evs])


def _checkin(seq: int, voter: str = "0000000001", contests: list[str] | None = None, **extra: Any) -> bytes:
    data: dict[str, Any] = {"station": "S01", "clerk": "c01", "voter": voter,
                            "contests": contests if contests is not None else ["governor", "mayor"], **extra}
    return Event(EventKind.CHECKIN, seq, 1_800_000_000_000 << 16, "T001", data).encode()  # type: ignore[arg-type]


def _reference(raws: list[bytes]) -> list[Event]:
    return [decode(r) for r in raws]


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
value = st.one_of(text, st.integers(-(1 << 63), (1 << 64) - 1), st.booleans(), st.none(), st.floats(allow_nan=False),
                  st.lists(text, max_size=18), st.dictionaries(text, st.integers(-9, 9), max_size=2))


@st.composite
def event_raw(draw: Any) -> bytes:
    kind = draw(st.sampled_from([k.value for k in EventKind] + ["nope"]))
    data = draw(st.dictionaries(st.sampled_from(["station", "clerk", "voter", "contests", "ref", "reason", "via",
                                                 "action", "contest", "hour", "issued", "state", "x"]),
                                value, max_size=6))
    if draw(st.booleans()):  # mostly well-formed check-ins, so that the fast path runs
        kind, data = "checkin", {"station": draw(text), "clerk": "c", "voter": draw(text),
                                 "contests": draw(st.lists(text, min_size=0, max_size=17))}
    obj = {"d": data, "h": draw(st.integers(-5, (1 << 64) - 1)), "k": kind, "s": draw(st.integers(-1, 1 << 40)),
           "t": draw(st.sampled_from(["T001", "", "T" * 33]))}
    raw = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    how = draw(st.sampled_from(["canonical"] * 4 + ["unsorted", "spaced", "flip", "cut", "escaped"]))
    if how == "unsorted":
        raw = orjson.dumps(dict(reversed(list(obj.items()))))
    elif how == "spaced":
        raw = raw.replace(b":", b": ", 1)
    elif how == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1:]
    elif how == "cut":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif how == "escaped":
        raw = raw.replace(b'"c01"', b'"\\u0063\\u0030\\u0031"')
    return raw


@settings(max_examples=200, deadline=None)
@given(st.lists(event_raw(), max_size=6))
def test_batch_decode_gives_what_per_event_decode_gives(raws):
    assert _outcome(decode_batch, raws) == _outcome(_reference, raws)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=8), st.data())
def test_repieced_batches_are_refused_like_per_event(seqs, data):
    """Glue valid events with commas and cut the result at arbitrary points: the pieces join back
    into the same valid JSON array, but each piece is not one canonical event."""
    whole = b",".join(_checkin(s) for s in seqs)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(whole) - 1), max_size=4))))
    pieces, prev = [], 0
    for c in cuts + [len(whole)]:
        pieces.append(whole[prev:c].strip(b","))
        prev = c
    assert _outcome(decode_batch, pieces) == _outcome(_reference, pieces)


def test_shifted_boundaries_that_parse_as_an_array_are_refused():
    """``{"d":["x"`` + ``,`` + ``"y"]…}`` glues into one valid event: the batch check must not
    accept pieces just because their join is canonical."""
    a = _checkin(1, contests=["x", "y"])
    i = a.index(b'"y"')
    pieces = [a[:i - 1], a[i:]]  # drop the comma between "x" and "y"
    assert b"[" + b",".join(pieces) + b"]" == orjson.dumps([orjson.loads(a)], option=orjson.OPT_SORT_KEYS)
    with pytest.raises(JournalCorrupt) as got:
        decode_batch(pieces)
    with pytest.raises(JournalCorrupt) as want:
        _reference(pieces)
    assert (got.value.code, got.value.message) == (want.value.code, want.value.message) == (
        "event_invalid", "記録の形式が不正です")


def test_non_canonical_event_in_a_batch_keeps_its_code():
    good = [_checkin(s) for s in (1, 2, 3)]
    bad = good[1].replace(b'"clerk":"c01"', b'"clerk":"\\u0063\\u0030\\u0031"')
    assert orjson.loads(bad) == orjson.loads(good[1])
    with pytest.raises(JournalCorrupt) as e:
        decode_batch([good[0], bad, good[2]])
    assert e.value.code == "event_not_canonical"
    assert decode_batch(good) == _reference(good)
    assert [ev.encode() for ev in decode_batch(good)] == good


def test_long_strings_are_refused_on_the_fast_path_too():
    ok = _checkin(1, voter="v" * 256)
    assert decode_batch([ok])[0].voter == "v" * 256
    with pytest.raises(JournalCorrupt) as e:
        decode_batch([_checkin(1, voter="v" * 257)])
    assert e.value.code == "event_invalid"
    with pytest.raises(JournalCorrupt) as e:
        decode_batch([_checkin(1, contests=["a", "a"])])
    assert e.value.code == "event_invalid"
