"""``enroll(..., on_state=...)``: the typed per-state callback the kiosk's checklist is driven by.

On success it hears exactly enroll.T_PATH after START, in order; on each refusal it hears the path
up to the state the terminal had reached, then FAILED once, and TDIR is as it was (no staging
left). A listener that raises fails the enrollment cleanly. Fake reader, real TLS, one loop."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.dirs import HqDir
from ground.errors import MeiboError
from hardware.cardreader.fake import FakeCardReader
from provisioning import cards
from provisioning.enroll import T_PATH, TState
from provisioning.enroll_client import EnrollSettings, enroll
from hq.enroll_server import EnrollService, serve_enrollment
from tests.unit.provisioning.test_enroll_forged_card_and_replay import (CLOCK, PIN, card_in_reader,  # noqa: F401
                                                                        hq, snapshot)

FAST = EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0)
INS_INTERNAL_AUTH = 0x88


def upto(state: TState) -> list[TState]:
    """The success path from CARD_READ through ``state``, then FAILED."""
    return [*T_PATH[1:T_PATH.index(state) + 1], TState.FAILED]


def untouched(tdir: Path) -> None:
    assert not tdir.exists()
    assert not list(tdir.parent.glob(f".{tdir.name}.*")), "staging left behind"


async def run(hq: HqDir, reader: FakeCardReader, tdir: Path, seen: list[TState], *, pin: str = PIN, address: str | None = None,
              on_state: Callable[[TState], None] | None = None, replace: bool = False) -> str:
    ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", 0)
    try:
        r = await enroll(tdir, reader, "r", lambda _t: pin, CLOCK, hq=address or f"127.0.0.1:{ep.port}",
                         settings=FAST, replace=replace, on_state=on_state or seen.append)
        return r.terminal
    finally:
        await ep.stop()


async def test_success_reports_every_table_state_in_order(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    seen: list[TState] = []
    assert await run(hq, reader, tmp_path / "T01", seen) == "T01"
    assert seen == list(T_PATH[1:])  # CARD_READ … ENROLLED, each once
    assert (tmp_path / "T01" / "terminal.toml").exists() and card.applet.state.use_counter == 1


async def test_wrong_pin_stops_at_card_read(hq: HqDir, tmp_path: Path) -> None:
    reader, _ = card_in_reader(hq)
    seen: list[TState] = []
    with pytest.raises(MeiboError) as ei:
        await run(hq, reader, tmp_path / "T01", seen, pin="9999")
    assert ei.value.code == "wrong_pin"
    assert seen == upto(TState.CARD_READ)
    untouched(tmp_path / "T01")


async def test_unreachable_hq_stops_at_keys_ready(hq: HqDir, tmp_path: Path) -> None:
    reader, _ = card_in_reader(hq)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    seen: list[TState] = []
    with pytest.raises(MeiboError) as ei:
        await run(hq, reader, tmp_path / "T01", seen, address=f"127.0.0.1:{closed}")
    assert ei.value.code == "hq_unreachable"
    assert seen == upto(TState.KEYS_READY)
    untouched(tmp_path / "T01")


async def test_forged_card_stops_at_card_signed(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq, recorded_pub=b"\x42" * 32)
    before = snapshot(hq)
    seen: list[TState] = []
    with pytest.raises(MeiboError) as ei:
        await run(hq, reader, tmp_path / "T01", seen)
    assert ei.value.code == "card_auth_failed"
    assert seen == upto(TState.CARD_SIGNED)
    assert snapshot(hq) == before and card.applet.state.use_counter == 0
    untouched(tmp_path / "T01")


async def test_card_pulled_at_signing_stops_at_challenged(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    card.pull_on(INS_INTERNAL_AUTH)
    seen: list[TState] = []
    with pytest.raises(MeiboError) as ei:
        await run(hq, reader, tmp_path / "T01", seen)
    assert ei.value.code == "card_removed"
    assert seen == upto(TState.CHALLENGED)
    untouched(tmp_path / "T01")


async def test_card_cancelled_before_commit_stops_at_card_marked(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    registry = (hq.root / "terminals.json").read_bytes()
    seen: list[TState] = []

    def cancel_when_proven(state: TState) -> None:  # HQ accepted the proof; COMMIT is still to come
        seen.append(state)
        if state is TState.PROVEN:
            cards.cancel(hq.root, card.applet.state.serial.hex(), "紛失の届け", CLOCK)

    with pytest.raises(MeiboError) as ei:
        await run(hq, reader, tmp_path / "T01", seen, on_state=cancel_when_proven)
    assert ei.value.code == "card_cancelled"
    assert seen == upto(TState.CARD_MARKED)
    assert (hq.root / "terminals.json").read_bytes() == registry
    untouched(tmp_path / "T01")


async def test_already_enrolled_tdir_reports_nothing(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    tdir = tmp_path / "T01"
    await run(hq, reader, tdir, [])
    before = sorted(p.name for p in tdir.iterdir())
    seen: list[TState] = []
    with pytest.raises(MeiboError) as ei:
        await run(hq, reader, tdir, seen)
    assert ei.value.code == "already_enrolled" and seen == []
    assert sorted(p.name for p in tdir.iterdir()) == before


async def test_a_listener_that_raises_fails_cleanly_from_its_state(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    before = snapshot(hq)
    seen: list[TState] = []

    def boom_at_roll(state: TState) -> None:
        seen.append(state)
        if state is TState.ROLL_INSTALLED:
            raise RuntimeError("listener")

    with pytest.raises(RuntimeError):
        await run(hq, reader, tmp_path / "T01", seen, on_state=boom_at_roll)
    assert seen == upto(TState.ROLL_INSTALLED)
    assert snapshot(hq) == before and card.applet.state.use_counter == 0
    untouched(tmp_path / "T01")

