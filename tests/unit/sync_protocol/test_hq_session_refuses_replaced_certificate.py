"""HQ's session refuses, at HELLO, a certificate that is no longer the terminal's live one (its
identity was re-enrolled with ``--replace``): a stable code, no WELCOME, the session closed; the
terminal's link stops on the refusal. Defence in depth behind the CRL."""

from __future__ import annotations

import pytest

from ground.errors import IllegalTransition
from sync_protocol.codec import decode, encode
from sync_protocol.session import FrameType, LinkState
from hq.session import HqSession, SessionState
from tests.unit.sync_protocol.pure_harness import MemTerminal, hq_for


def test_replaced_certificate_gets_no_welcome() -> None:
    t = MemTerminal("T01", "E01")
    sess = HqSession(hq_for(t), "T01", certificate_current=lambda: False)
    res = sess.receive(decode(encode(t.link.connect(0, t.hash_at(0) or b"", 0, 0))))
    (frame,) = res.send
    assert frame.type is FrameType.REFUSED and res.close and not res.to_commit
    assert frame.header == {"code": "certificate_replaced", "message": "この証明書は置き換えられています"}
    assert sess.state is SessionState.CLOSED
    with pytest.raises(IllegalTransition):
        sess.receive(decode(encode(t.link.connect(0, t.hash_at(0) or b"", 0, 0))))
    assert sess.state is SessionState.CLOSED
    actions = t.link.receive(decode(encode(frame)), t.hash_at)
    assert actions.refused == "certificate_replaced" and t.link.state is LinkState.REFUSED


def test_current_certificate_is_welcomed_and_asked_at_hello() -> None:
    t = MemTerminal("T01", "E01")
    asked: list[bool] = []
    sess = HqSession(hq_for(t), "T01", certificate_current=lambda: asked.append(True) or True)
    (frame,) = sess.receive(decode(encode(t.link.connect(0, t.hash_at(0) or b"", 0, 0)))).send
    assert frame.type is FrameType.WELCOME and asked == [True]
