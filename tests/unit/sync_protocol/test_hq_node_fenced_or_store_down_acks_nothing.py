"""HqNode's committer when the store says no (hq/server.py), on hq.db with the store's answers
replaced: ``Fenced`` fails the batch in hand and every later commit, sends no frame and ends the
committer (the node stays down); a store that is down fails a commit of events and keeps failing
the ledger's reload for a while, which the committer retries with back-off and outlives, then
acknowledges again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appliance.dirs import HqDir
from ground.clock import FixedClock
from hq.ledger import Ledger
from hq.server import HqNode, HqSettings
from hq.store_db import Fenced, StoreUnreachable
from hq.terminals import hq_init
from sync_protocol.codec import Frame, FrameType
from tests.builders import EARLY_NOON, election_toml
from tests.unit.sync_protocol.reports_day import build

FAST = HqSettings(store_retry_initial_s=0.01, store_retry_max_s=0.02)


@pytest.fixture
def hq(tmp_path: Path) -> HqDir:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq_init(tmp_path / "hq", cfg, FixedClock(EARLY_NOON))
    return HqDir(tmp_path / "hq")


class Ws:
    """What a WebSocketResponse is asked for here: frames sent, closes."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self, **_: Any) -> None:
        self.closed = True


async def swapped(node: HqNode, old: Ledger) -> None:
    while node.ledger is old:
        await asyncio.sleep(0.01)


def fenced() -> Fenced:
    return Fenced("本部の主系は別のノードに移りました", code="hq_fenced")


async def test_fenced_fails_the_batch_and_every_later_commit_and_sends_nothing(
        hq: HqDir, monkeypatch: pytest.MonkeyPatch) -> None:
    node = HqNode(hq, FAST, node_name="hq-a")
    assert node.leadership.node == "hq-a" and node.store.leader() == node.leadership
    await node.start()
    try:
        def refuse(*_: Any) -> None:
            raise fenced()
        monkeypatch.setattr(node.store, "commit", refuse)
        with pytest.raises(Fenced):
            await asyncio.wait_for(node.commit([]), 15)  # the batch in hand: failed, not left waiting
        assert node.fenced is not None and node.fenced.code == "hq_fenced"
        await asyncio.wait_for(asyncio.shield(node._tasks[0]), 15)  # the committer has ended: stays down
        with pytest.raises(Fenced):  # and refuses at once from then on
            await node.commit([])
        ws = Ws()
        await node._send(ws, Frame(FrameType.FLAGS, {}))  # type: ignore[arg-type]
        assert ws.sent == [] and node.bytes_out == 0
        assert (await node.admin({"op": "leader"}))["fenced"] is True
    finally:
        await node.stop()


async def test_a_store_down_through_the_reload_is_retried_and_the_node_acknowledges_again(
        hq: HqDir, monkeypatch: pytest.MonkeyPatch) -> None:
    node = HqNode(hq, FAST, node_name="hq-a")
    await node.start()
    real_commit, real_load = node.store.commit, node.store.load
    loads_failed = 0
    reloaded = asyncio.Event()
    loop = asyncio.get_running_loop()

    def down(*_: Any) -> None:
        raise StoreUnreachable("本部のデータベースに接続できません", code="store_unreachable")

    def load(ledger_cls: type[Ledger] = Ledger) -> Ledger:
        nonlocal loads_failed
        if loads_failed < 3:  # the server is still restarting
            loads_failed += 1
            down()
        led = real_load(ledger_cls)
        loop.call_soon_threadsafe(reloaded.set)
        return led

    before = node.ledger
    try:
        monkeypatch.setattr(node.store, "commit", down)
        monkeypatch.setattr(node.store, "load", load)
        with pytest.raises(StoreUnreachable):  # not durable: no ack, and the ledger is reloaded
            await asyncio.wait_for(node.commit(build().events[:1]), 15)
        monkeypatch.setattr(node.store, "commit", real_commit)
        await asyncio.wait_for(reloaded.wait(), 15)
        await asyncio.wait_for(swapped(node, before), 15)  # the committer has the new ledger in hand
        assert loads_failed == 3 and not node._tasks[0].done()  # retried, the committer alive
        await asyncio.wait_for(node.commit([]), 15)  # acknowledged again
        assert node.fenced is None
    finally:
        await node.stop()
