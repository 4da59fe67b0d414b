"""The enrollment state tables (provisioning/enroll.py): the happy path, every illegal transition
raising and leaving the state unchanged, and the pure module importing no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ground.errors import IllegalTransition
from provisioning import enroll
from provisioning.enroll import H_ROLL_ALLOWED, H_TABLE, T_TABLE, HState, TState, step
from provisioning.enroll_client import _Flow

HAPPY = ["card_read", "pin_verified", "keys_made", "hq_trusted", "challenge", "card_signed", "proven",
         "roll_installed", "card_marked", "certified", "committed"]
EVENTS = sorted({e for _, e in T_TABLE})


def test_terminal_happy_path_visits_every_state_in_order() -> None:
    flow = _Flow()
    seen = [flow.state]
    for ev in HAPPY:
        flow(ev)
        seen.append(flow.state)
    assert seen == [s for s in TState if s is not TState.FAILED]
    assert flow.state is TState.ENROLLED


@pytest.mark.parametrize("state", list(TState))
@pytest.mark.parametrize("event", EVENTS)
def test_terminal_illegal_transition_raises_and_keeps_state(state: TState, event: str) -> None:
    flow = _Flow()
    flow.state = state
    if (state, event) in T_TABLE:
        flow(event)
        assert flow.state is T_TABLE[(state, event)]
    else:
        with pytest.raises(IllegalTransition) as ei:
            flow(event)
        assert flow.state is state
        assert ei.value.code == "illegal_transition" and "できません" in ei.value.message


def test_every_unfinished_terminal_state_can_fail_and_final_states_cannot_move() -> None:
    for s in TState:
        if s in (TState.ENROLLED, TState.FAILED):
            assert not [k for k in T_TABLE if k[0] is s]
        else:
            assert T_TABLE[(s, "fail")] is TState.FAILED


@pytest.mark.parametrize("state", list(HState))
@pytest.mark.parametrize("event", ["prove", "commit", "abort", "refuse", "hello"])
def test_hq_illegal_transition_raises(state: HState, event: str) -> None:
    if (state, event) in H_TABLE:
        assert step(H_TABLE, state, event) is H_TABLE[(state, event)]
    else:
        with pytest.raises(IllegalTransition):
            step(H_TABLE, state, event)


def test_hq_commits_only_after_a_proof_and_serves_the_roll_only_then() -> None:
    assert (HState.CHALLENGED, "commit") not in H_TABLE
    assert H_ROLL_ALLOWED == {HState.PROVEN}
    for final in (HState.ENROLLED, HState.ABORTED, HState.REFUSED):
        assert not [k for k in H_TABLE if k[0] is final]


def test_pure_core_imports_no_io() -> None:
    tree = ast.parse(Path(enroll.__file__).read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    forbidden = {"aiohttp", "socket", "ssl", "sqlite3", "smartcard", "asyncio", "os", "time", "random",
                 "provisioning.cards", "appliance.store", "hardware.cardreader.pcsc"}
    assert not {n for n in names if n.split(".")[0] in forbidden or n in forbidden}, names
