"""Repeated automatic database failovers under load (issue 18, ``make soak``): etcd and two
Patroni members, two real ``meibo hq serve`` processes, two stations checking voters in all along.
Each round SIGKILLs the Patroni leader member (patroni + postgres) and the leading HQ; Patroni
promotes the replica, the standby HQ takes over, then the dead member is started again and
rejoins as the synchronous replica (``use_pg_rewind``) and the dead HQ comes back as ``--standby``,
ready for the next round. After each round: both terminals back online on the new HQ within the
ttl-honest bound of test_hq_patroni_failover.py, every check-in acknowledged so far stored once,
a voter accepted before refused at the other station, and the cluster healthy again.

Runs ~10 minutes (``MEIBO_SOAK_S``, default 600) or ``MEIBO_SOAK_ROUNDS`` rounds when set (2 to
prove it works)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path

import pytest

from ground.model import VoterId
from hq.store import HqStore
from provisioning.pki import hq_server_name
from sync_protocol.client import SyncAgent, until_acked
from tests.integration.hq_nodes_env import node_with_own_cert, two_node_env, until
from tests.integration.sync_env import free_port
from tests.integration.test_hq_failover_kill_mid_ingest import CONTESTS, Serving, _add_station
from tests.integration.test_hq_patroni_failover import SLACK_S
from tooling.patroni import PatroniCluster

SOAK_S = float(os.environ.get("MEIBO_SOAK_S", "600"))

# pytest's timeout (300 s in pyproject) would end the default 600 s soak halfway: allow the soak's
# length plus the cluster's start, a last round begun just before the end, and the final checks.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(SOAK_S + 300)]


async def test_patroni_failovers_repeated_under_load_lose_no_acknowledged_check_in(
        tmp_path: Path, patroni_cluster: PatroniCluster) -> None:
    rounds = int(os.environ.get("MEIBO_SOAK_ROUNDS", "0")) or None
    until_t = time.monotonic() + SOAK_S
    back_within_s = patroni_cluster.settings.ttl_s + SLACK_S
    ports = [free_port(), free_port()]
    env = two_node_env(tmp_path / "site", ports[0], ports[1])
    _add_station(env, "T02", "E02")
    dirs = [env.hq.root, node_with_own_cert(env.hq, tmp_path / "hq-b", hq_server_name("sync-two")).root]
    dsn = patroni_cluster.dsn()
    hqs = [Serving(dirs[0], dsn, ports[0])]
    await until(lambda: hqs[0].said("listening"), 30)
    hqs.append(Serving(dirs[1], dsn, ports[1], "--standby"))
    agents: list[SyncAgent] = [env.agent("T01"), env.agent("T02")]
    tasks = [asyncio.create_task(ag.run()) for ag in agents]
    t01, t02 = agents
    checked: list[tuple[str, int]] = []
    stop = asyncio.Event()

    # The terminals' roll holds 600 voters: check them in at a pace that lasts the soak (a load's
    # rate, not a wait for anything; no verdict depends on it).
    pace_s = 0.2 if rounds else SOAK_S / 560

    async def stream() -> None:
        for i in range(10, 601):
            if stop.is_set():
                return
            local = t01.term.checkin(str(100000 + i), "clerk1")
            assert local.seq is not None
            checked.append((str(100000 + i), local.seq))
            await t01.resolve(local.seq, [c.contest for c in local.handed], budget_s=0.5)
            await asyncio.sleep(pace_s)

    lead = 0
    done = 0
    back_s: list[float] = []
    try:
        await until(lambda: hqs[1].said("standby") and all(ag.online.is_set() for ag in agents), 30)
        streaming = asyncio.create_task(stream())
        while (done < rounds) if rounds else (time.monotonic() < until_t):
            n = len(checked)
            await until(lambda: len(checked) >= n + 3 and t01.link.acked_seq >= checked[n + 2][1], 60)
            old = patroni_cluster.leader()
            assert old is not None
            await asyncio.to_thread(old.kill)
            hqs[lead].p.kill()
            killed = time.monotonic()
            acked_at_kill, seq_at_kill = t01.link.acked_seq, checked[-1][1]
            await asyncio.to_thread(patroni_cluster.wait_leader, old)
            new_addr = f"127.0.0.1:{ports[1 - lead]}"
            await until(lambda: all(ag.online.is_set() and ag.hq_address == new_addr for ag in agents)
                        and t01.link.acked_seq >= seq_at_kill, back_within_s - (time.monotonic() - killed))
            back_s.append(time.monotonic() - killed)
            print(f"round {done + 1}: back online on {new_addr} {back_s[-1]:.2f} s after the kill")
            early = next(v for v, seq in reversed(checked) if seq <= acked_at_kill)
            await until(lambda: set(t02.term.known_voted(early)) == CONTESTS, 30)
            assert not t02.term.checkin(early, "clerk2").handed
            old.start()  # the machine is back: it rejoins as the replica
            await asyncio.to_thread(patroni_cluster.wait_healthy)
            hqs[lead].stop()
            hqs[lead] = Serving(dirs[lead], dsn, ports[lead], "--standby")
            await until(lambda: hqs[lead].said("standby"), 30)
            lead = 1 - lead
            done += 1
        stop.set()
        await asyncio.wait_for(streaming, 30)
        await asyncio.wait_for(until_acked(t01), 30)
    finally:
        stop.set()
        for ag in agents:
            ag.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for h in hqs:
            h.stop()
    assert done >= (rounds or 1)

    store = HqStore(env.hq, store_url=dsn)
    try:
        led = store.load()
        for voter, seq in checked:
            counts = {led.ballot_count(VoterId(voter), c) for c in CONTESTS}
            assert counts == {1} if seq <= t01.link.acked_seq else counts <= {0, 1}, (voter, seq, counts)
        assert led.active_alerts() == []
        assert store.leader().epoch == done + 1
    finally:
        store.close()
    acked = sum(1 for _, seq in checked if seq <= t01.link.acked_seq)
    print(f"soak: {done} failovers, back online min {min(back_s):.2f} / median {statistics.median(back_s):.2f} / "
          f"max {max(back_s):.2f} s; {acked} check-ins acknowledged, each stored once: 0 lost")
