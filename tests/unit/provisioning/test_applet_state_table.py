"""The applet's command table: every command in every life cycle, and refusals change nothing."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning import applet as ap
from provisioning.applet import AID, COMMANDS, SW, Applet, CardState, Lifecycle, Session, Tag, step

SELECT = b"\x00\xA4\x04\x00\x07" + AID
RND = random.Random(0).randbytes


def issued() -> CardState:
    a = Applet(CardState(serial=bytes(8)), RND)
    for apdu in [SELECT,
                 b"\x00\xDA\x01\x01\x03abc", b"\x00\xDA\x01\x02\x09h.lan:443", b"\x00\xDA\x01\x03\x20" + bytes(32),
                 b"\x00\xDA\x01\x04\x03T01", b"\x00\xDA\x01\x05\x03E01", b"\x00\x24\x01\x80\x041234",
                 b"\x00\x47\x80\x00\x00", b"\x80\xE4\x00\x00"]:
        assert a.process(apdu)[-2:] == b"\x90\x00", apdu.hex()
    return a.state


# One representative, well-formed APDU per command (the table's rows).
SAMPLES: dict[str, bytes] = {
    "SELECT": SELECT,
    "VERIFY": b"\x00\x20\x00\x80\x041234",
    "SET PIN": b"\x00\x24\x01\x80\x045678",
    "GET DATA": b"\x00\xCA\x01\x10\x00",
    "PUT DATA": b"\x00\xDA\x01\x04\x03T09",
    "GENERATE KEY": b"\x00\x47\x80\x00\x00",
    "INTERNAL AUTHENTICATE": b"\x00\x88\x00\x00\x10" + bytes(16) + b"\x00",
    "MARK USED": b"\x80\xE2\x00\x00\x00",
    "FINALISE": b"\x80\xE4\x00\x00",
    "DERIVE AT-REST KEY": b"\x80\xE6\x00\x00\x20" + bytes(32) + b"\x00",
}


def test_every_table_row_has_a_sample() -> None:
    assert set(SAMPLES) == {c.name for c in COMMANDS.values()}


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("lifecycle", list(Lifecycle))
def test_command_in_a_life_cycle_it_does_not_allow_is_refused_and_changes_nothing(name: str, lifecycle: Lifecycle) -> None:
    cmd = next(c for c in COMMANDS.values() if c.name == name)
    # PERSONALISING: everything written but not finalised, so that FINALISE itself can succeed.
    state = issued() if lifecycle is Lifecycle.ISSUED else replace(issued(), lifecycle=lifecycle)
    session = Session(selected=True, pin_verified=True)
    r = step(state, session, SAMPLES[name], RND)
    if lifecycle in cmd.lifecycles:
        assert r.sw == SW.OK, f"{name} in {lifecycle.name}: {r.sw:04X}"
    else:
        assert r.sw == SW.CONDITIONS_NOT_SATISFIED
        assert r.state == state and r.session == session


@pytest.mark.parametrize("name", sorted(n for n in SAMPLES if n != "SELECT"))
def test_nothing_but_select_works_before_select(name: str) -> None:
    state = issued()
    r = step(state, Session(), SAMPLES[name], RND)
    assert r.sw == SW.CONDITIONS_NOT_SATISFIED and r.state == state


@pytest.mark.parametrize("name", [c.name for c in COMMANDS.values() if c.needs_pin])
def test_pin_commands_need_the_pin_in_this_session(name: str) -> None:
    state = issued()
    r = step(state, Session(selected=True), SAMPLES[name], RND)
    assert r.sw == SW.SECURITY_NOT_SATISFIED and r.state == state


def test_finalise_refused_until_everything_is_written() -> None:
    a = Applet(CardState(serial=bytes(8)), RND)
    a.process(SELECT)
    steps = [b"\x00\xDA\x01\x01\x03abc", b"\x00\xDA\x01\x02\x09h.lan:443", b"\x00\xDA\x01\x03\x20" + bytes(32),
             b"\x00\xDA\x01\x04\x03T01", b"\x00\xDA\x01\x05\x03E01", b"\x00\x24\x01\x80\x041234",
             b"\x00\x47\x80\x00\x00"]
    for s in steps:
        before = a.state
        assert a.process(b"\x80\xE4\x00\x00") == b"\x69\x85"
        assert a.state == before
        assert a.process(s)[-2:] == b"\x90\x00"
    assert a.process(b"\x80\xE4\x00\x00") == b"\x90\x00"
    assert a.state.lifecycle is Lifecycle.ISSUED


def test_private_key_is_never_in_any_answer() -> None:
    state = issued()
    assert state.key_seed is not None
    a = Applet(state, RND)
    answers = b"".join(a.process(x) for x in [SELECT] + [b"\x00\xCA" + t.to_bytes(2, "big") + b"\x00" for t in Tag])
    assert state.key_seed not in answers


def test_malformed_apdus_are_refused_with_wrong_length() -> None:
    state = issued()
    for raw in [b"", b"\x00\xA4", b"\x00\xCA\x01\x10\x05\x01", b"\x00\xDA\x01\x04\x00\x00\x03"]:
        r = step(state, Session(selected=True), raw, RND)
        assert r.sw == SW.WRONG_LENGTH and r.state == state


# Random command streams: any answer other than 9000 leaves the card's memory as it was, except
# VERIFY with a PIN, which is *meant* to count a wrong try.
_ins = st.sampled_from([0xA4, 0x20, 0x24, 0xCA, 0xDA, 0x47, 0x88, 0xE2, 0xE4, 0xB0])
_apdu = st.one_of(
    st.builds(lambda cla, ins, p1, p2, data: bytes([cla, ins, p1, p2]) + (bytes([len(data)]) + data if data else b""),
              st.sampled_from([0x00, 0x80, 0x90]), _ins, st.sampled_from([0x00, 0x01, 0x04, 0x80]),
              st.sampled_from([0x00, 0x01, 0x03, 0x04, 0x10, 0x80]), st.binary(max_size=40)),
    st.sampled_from(list(SAMPLES.values()) + [b"\x00\x20\x00\x80\x049999"]),
    st.binary(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.lists(_apdu, max_size=25))
def test_refused_commands_never_change_the_card(start_issued: bool, apdus: list[bytes]) -> None:
    a = Applet(issued() if start_issued else CardState(serial=bytes(8)), RND)
    for raw in apdus:
        before = a.state
        resp = a.process(raw)
        sw = int.from_bytes(resp[-2:], "big")
        is_verify_with_pin = len(raw) > 5 and raw[:4] == b"\x00\x20\x00\x80"
        if sw != SW.OK and not is_verify_with_pin:
            assert a.state == before, f"{raw.hex()} → {sw:04X} changed the card"
        if is_verify_with_pin and a.state != before:
            assert replace(a.state, pin_tries=before.pin_tries) == before  # only the counter moved


def test_pure_module_imports_no_io() -> None:
    import ast
    tree = ast.parse(open(ap.__file__, encoding="utf-8").read())
    imported = {n.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for n in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "hashlib", "hmac", "collections", "dataclasses", "enum", "cryptography"}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "open" not in calls
