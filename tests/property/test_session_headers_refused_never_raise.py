"""Every header field of every frame type, replaced by any JSON value (a string cursor, a list
where a seq belongs, ``true`` for an int, a float, an object, a huge int) or removed:

- HQ (``HqSession``) answers a HELLO, BATCH, FLAGS_ACK or STATUS with a clean result or with
  exactly one REFUSED frame and ``close`` — never another exception (a traceback there closed the
  websocket with 1006 and the terminal never learnt why);
- the terminal (``TerminalLink.receive``) handles a WELCOME, ACK, FLAGS, RESEND or REFUSED, with
  well-typed actions for the agent, or raises ``FrameInvalid``/``IllegalTransition`` and its
  state is as before — never a ValueError/TypeError/KeyError that ends the sync agent's task.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ground.errors import IllegalTransition
from sync_protocol.codec import Frame, FrameType
from sync_protocol.errors import FrameInvalid
from sync_protocol.session import LinkActions, LinkState, TerminalLink
from hq.session import HqSession, SessionState
from tests.unit.sync_protocol.pure_harness import MemTerminal, hq_for

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["", "0", "1", "ab", "zz", "A" * 64]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn, header: dict[str, Any]) -> dict[str, Any]:
    """The valid header with one to three of its fields (or a new one) set to random JSON, and
    maybe one removed."""
    out = dict(header)
    names = sorted(header) + ["extra"]
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        out[name] = draw(json_values)
    if draw(st.booleans()) and out:
        del out[draw(st.sampled_from(sorted(out)))]
    return out


def _ready() -> tuple[MemTerminal, HqSession, Frame]:
    """A terminal with one check-in, HQ's session after a valid HELLO, and that check-in's BATCH."""
    t = MemTerminal("T01", "E01")
    t.checkin("100001", ["governor"])
    sess = HqSession(hq_for(t), "T01")
    res = sess.receive(t.link.connect(0, t.hash_at(0) or b"", 0, 0))
    (welcome,) = res.send
    t.link.receive(welcome, t.hash_at)
    batch = t.link.batch(t.journal, t.hash_at(0) or b"")
    assert batch is not None and sess.state is SessionState.READY
    return t, sess, batch


# --- HQ side --------------------------------------------------------------------------------

def _refused_or_clean(sess: HqSession, res: Any, clean_state: SessionState) -> None:
    if res.close:
        (frame,) = res.send
        assert frame.type is FrameType.REFUSED
        assert isinstance(frame.header["code"], str) and isinstance(frame.header["message"], str)
        assert sess.state is SessionState.CLOSED
    else:
        assert sess.state is clean_state
        assert all(f.type is not FrameType.REFUSED for f in res.send)


_HELLO = MemTerminal("T01", "E01").link.connect(3, b"\x01" * 32, 2, 1, (1, 2))


@SETTINGS
@given(mutated(_HELLO.header))
def test_hq_answers_any_hello_header_with_welcome_or_refused(header: dict[str, Any]) -> None:
    t = MemTerminal("T01", "E01")
    sess = HqSession(hq_for(t), "T01")
    res = sess.receive(Frame(FrameType.HELLO, header))
    _refused_or_clean(sess, res, SessionState.READY)
    if not res.close:
        (frame,) = res.send
        assert frame.type is FrameType.WELCOME


@SETTINGS
@given(st.data())
def test_hq_answers_any_batch_header_with_ack_resend_or_refused(data: st.DataObject) -> None:
    _, sess, batch = _ready()
    header = data.draw(mutated(batch.header))
    res = sess.receive(Frame(FrameType.BATCH, header, batch.events))
    _refused_or_clean(sess, res, SessionState.READY)


@SETTINGS
@given(mutated({"cursor": 0}))
def test_hq_answers_any_flags_ack_header_cleanly_or_refused(header: dict[str, Any]) -> None:
    _, sess, _ = _ready()
    res = sess.receive(Frame(FrameType.FLAGS_ACK, header))
    _refused_or_clean(sess, res, SessionState.READY)
    assert type(sess.cursor) is int and 0 <= sess.cursor <= sess.sent_cursor


@SETTINGS
@given(mutated({"radio": {"bars": 3, "carrier": "docomo", "apn_ok": True}}))
def test_hq_answers_any_status_header_cleanly_or_refused(header: dict[str, Any]) -> None:
    _, sess, _ = _ready()
    res = sess.receive(Frame(FrameType.STATUS, header))
    _refused_or_clean(sess, res, SessionState.READY)


def test_hello_with_a_string_cursor_is_refused_naming_the_field() -> None:
    t = MemTerminal("T01", "E01")
    sess = HqSession(hq_for(t), "T01")
    res = sess.receive(Frame(FrameType.HELLO, {**_HELLO.header, "cursor": "12"}))
    assert res.close and sess.state is SessionState.CLOSED
    (frame,) = res.send
    assert frame.type is FrameType.REFUSED
    assert frame.header == {"code": "header_invalid", "message": "HELLO の cursor が不正です"}


def test_flags_ack_with_a_list_cursor_is_refused_naming_the_field() -> None:
    _, sess, _ = _ready()
    res = sess.receive(Frame(FrameType.FLAGS_ACK, {"cursor": [1]}))
    assert res.close and sess.state is SessionState.CLOSED
    assert res.send[0].header == {"code": "header_invalid", "message": "FLAGS_ACK の cursor が不正です"}


# --- terminal side --------------------------------------------------------------------------

def _snapshot(link: TerminalLink) -> tuple[LinkState, int, int]:
    return link.state, link.acked_seq, link.sent_upto


def _well_typed(a: LinkActions) -> None:
    """What SyncAgent._act feeds to int()/str()/SQLite: the right kinds, or nothing."""
    def uint(v: Any) -> bool:
        return type(v) is int and v >= 0

    for v in (a.acked_seq, a.flags_cursor, a.hq_roll_version):
        assert v is None or uint(v)
    assert a.need_events_from is None or type(a.need_events_from) is int
    assert a.refused is None or isinstance(a.refused, str)
    assert a.hq_contests is None or all(isinstance(c, str) for c in a.hq_contests)
    for v in a.verdicts:
        assert uint(v.seq) and isinstance(v.contest, str) and uint(v.hlc) and uint(v.first_seq)
        assert isinstance(v.station, str) and isinstance(v.terminal, str) and type(v.accepted) is bool
    for f in a.flags:
        assert len(f) == 8 and uint(f[0]) and uint(f[6]) and uint(f[7]) and type(f[3]) is int
        assert all(isinstance(f[i], str) for i in (1, 2, 4, 5))


def _handled_or_typed_error(link: TerminalLink, frame: Frame, t: MemTerminal) -> None:
    before = _snapshot(link)
    try:
        actions = link.receive(frame, t.hash_at)
    except (FrameInvalid, IllegalTransition):
        assert _snapshot(link) == before
        return
    _well_typed(actions)


_WELCOME_OK = {"acked_seq": 0, "acked_head": MemTerminal("T01", "E01").hash_at(0).hex(),  # type: ignore[union-attr]
               "roll": 1, "contests": ["governor"], "ok": [[1, 2]],
               "v": [[3, "governor", "A"], [4, "governor", "V", "E02", "T02", 7, 9]]}


@SETTINGS
@given(mutated(_WELCOME_OK))
def test_terminal_handles_any_welcome_header_or_raises_typed_error(header: dict[str, Any]) -> None:
    t = MemTerminal("T01", "E01")
    t.link.connect(0, t.hash_at(0) or b"", 0, 0)
    _handled_or_typed_error(t.link, Frame(FrameType.WELCOME, header), t)


def _ready_terminal() -> MemTerminal:
    t, _, _ = _ready()
    assert t.link.state is LinkState.READY and t.link.sent_upto == 1
    return t


_ACK_OK = {"acked_seq": 1, "ok": [[1, 1]], "v": [[1, "governor", "V", "E02", "T02", 7, 9]]}
_FLAG_ROW = (1, "100002", "governor", 1, "E02", "T02", 4, 123456)


@SETTINGS
@given(mutated(_ACK_OK))
def test_terminal_handles_any_ack_header_or_raises_typed_error(header: dict[str, Any]) -> None:
    t = _ready_terminal()
    _handled_or_typed_error(t.link, Frame(FrameType.ACK, header), t)


@SETTINGS
@given(mutated({"cursor": 1, "mark": "ab"}),
       st.lists(st.one_of(st.just(_FLAG_ROW), st.lists(json_values, max_size=9).map(tuple)), max_size=3))
def test_terminal_handles_any_flags_header_and_rows_or_raises_typed_error(
        header: dict[str, Any], rows: list[tuple[Any, ...]]) -> None:
    t = _ready_terminal()
    _handled_or_typed_error(t.link, Frame(FrameType.FLAGS, header, flags=tuple(rows)), t)


@SETTINGS
@given(mutated({"from": 1}))
def test_terminal_handles_any_resend_header_or_raises_typed_error(header: dict[str, Any]) -> None:
    t = _ready_terminal()
    _handled_or_typed_error(t.link, Frame(FrameType.RESEND, header), t)


@SETTINGS
@given(mutated({"code": "terminal_revoked", "message": "この端末は失効しています"}))
def test_terminal_handles_any_refused_header_or_raises_typed_error(header: dict[str, Any]) -> None:
    t = _ready_terminal()
    _handled_or_typed_error(t.link, Frame(FrameType.REFUSED, header), t)


def test_welcome_with_a_string_acked_seq_leaves_the_link_waiting() -> None:
    t = MemTerminal("T01", "E01")
    t.link.connect(0, t.hash_at(0) or b"", 0, 0)
    try:
        t.link.receive(Frame(FrameType.WELCOME, {**_WELCOME_OK, "acked_seq": "0"}), t.hash_at)
    except FrameInvalid as e:
        assert e.code == "header_invalid" and e.message == "WELCOME の acked_seq が不正です"
    else:
        raise AssertionError("a WELCOME with a string acked_seq was accepted")
    assert t.link.state is LinkState.HELLO_SENT
