"""A station whose link is down all day: its exported journal applied at HQ gives exactly what
the network path gives, with the same verification and idempotence."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from nacl.signing import SigningKey

from ground.events import EventKind
from ground.errors import MeiboError
from hq import ops as hq_ops
from hq.store import HqStore
from sync_protocol.journal_file import export_journal
from tests.integration.sync_env import checkin, make_env


def _export(env, tid, out):
    with env.terminal(tid) as t:
        return export_journal(t.store, SigningKey(env.terminals[tid].device_key.read_bytes()), "sync-test", tid,
                              t.station.station_id, out, "2027-04-20T18:00:00+09:00")


def _state(hq_root_env):
    store = HqStore(hq_root_env.hq)
    try:
        led = store.load()
        return ({k: (r.voter, r.contests, dict(r.state)) for k, r in led.checkins.items()},
                [(a.voter, a.contest, [(b.terminal, b.seq) for b in a.ballots]) for a in led.active_alerts()],
                [f.wire() for f in led.flags])
    finally:
        store.close()


async def test_export_import_gives_the_same_ledger_as_network_sync(tmp_path):
    env = make_env(tmp_path)
    # both stations check voters in while offline; 100003 goes to both (a double vote)
    for tid, voters in {"T01": ["100001", "100002", "100003"], "T02": ["100003", "100004"]}.items():
        a = env.agent(tid, budget=0.05)
        for v in voters:
            await checkin(a, v)
    with env.terminal("T01") as t:
        t.void(1, "投票せずに退出", "clerk1")
    twin = tmp_path / "hq-twin"
    shutil.copytree(env.hq.root, twin)

    # path 1: the network
    await env.start_hq()
    agents = [env.agent("T01"), env.agent("T02")]
    tasks = [asyncio.create_task(a.run()) for a in agents]
    for _ in range(100):
        if all(a.pending() == 0 for a in agents):
            break
        await asyncio.sleep(0.05)
    for a in agents:
        a.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await env.stop_hq()
    network = _state(env)

    # path 2: USB sticks, into the twin HQ (same enrollments, nothing received yet)
    env_twin = type(env)(env.root, env.port, type(env.hq)(twin))
    for tid in ("T01", "T02"):
        f = tmp_path / f"{tid}.journal"
        _export(env, tid, f)
        store = HqStore(env_twin.hq)
        try:
            led = store.load()
            out, events = hq_ops.import_journal(led, f, store.record_alarm)
            store.commit(events)
            assert out["applied"] > 0
            # importing the same file again changes nothing
            led2 = store.load()
            out2, events2 = hq_ops.import_journal(led2, f, store.record_alarm)
            assert events2 == [] and out2["duplicates"] == out["applied"]
        finally:
            store.close()
    sneakernet = _state(env_twin)
    # The ingest order differs (network interleaves the two terminals), so compare what the
    # order cannot change: each check-in's ballots, the double-vote set, the voted set.
    assert network[0].keys() == sneakernet[0].keys()
    assert {k: (v, c) for k, (v, c, _) in network[0].items()} == {k: (v, c) for k, (v, c, _) in sneakernet[0].items()}
    assert {(v, c) for v, c, _ in network[1]} == {(v, c) for v, c, _ in sneakernet[1]} == \
        {("100003", c) for c in ("shu", "shinsa", "governor", "mayor")}


def test_tampered_journal_file_is_refused_and_changes_nothing(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    with env.terminal("T01") as t:
        t.checkin("100001", "c1")
        t.checkin("100002", "c1")
    f = tmp_path / "T01.journal"
    _export(env, "T01", f)
    raw = bytearray(f.read_bytes())
    raw[-5] ^= 0x01  # a flipped bit inside the compressed events
    f.write_bytes(bytes(raw))
    store = HqStore(env.hq)
    try:
        led = store.load()
        with pytest.raises(MeiboError):
            hq_ops.import_journal(led, f, store.record_alarm)
        assert HqStore.load(store).order == 0
    finally:
        store.close()
