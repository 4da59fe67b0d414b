"""Terminals know both HQ nodes (issue 18): election.toml's ``[hq] addresses`` lists two HQ nodes,
two real HqNode servers over TLS 1.3 on loopback. The agent checks in on the first node; the first
node is stopped; the agent dials the second (its own certificate for the same HQ name, issued by the
election CA) and its check-ins are acknowledged there. A server with a certificate from the same CA
for any other name is refused by the terminal's TLS before a frame is sent, and the agent goes on
to the next node. Waits watch the agent's state with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.dirs import HqDir, TerminalDir
from appliance.store import Store
from ground.clock import FixedClock
from hq.server import HqNode, HqSettings, serve
from hq.terminals import enroll_local, hq_init
from provisioning.pki import PkiPaths, hq_server_name
from sync_protocol.client import SyncAgent, until_acked
from tests.builders import EARLY_NOON, TEST_PIN, election_toml, insert_voters, open_station
from tests.integration.sync_env import VOTERS, Env, checkin, free_port

ELECTION = "sync-two"


async def _until(what: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Wait until ``what()`` holds, yielding to the loop in between; fail after the deadline."""
    async with asyncio.timeout(timeout_s):
        while not what():
            await asyncio.sleep(0.01)


def _two_node_env(tmp: Path, port_a: int, port_b: int) -> Env:
    """sync_env.make_env's site, with ``[hq] addresses`` naming both nodes."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "election.toml"
    one = f'address = "127.0.0.1:{port_a}"'
    text = election_toml(election_id=ELECTION, hq_address=f"127.0.0.1:{port_a}")
    assert one in text
    cfg.write_text(text.replace(one, f'addresses = ["127.0.0.1:{port_a}", "127.0.0.1:{port_b}"]'), "utf-8")
    clock = FixedClock(EARLY_NOON)
    hq = HqDir(tmp / "hq")
    hq_init(hq.root, cfg, clock)
    env = Env(tmp, port_a, hq, clock)
    out = tmp / "T01"
    enroll_local(hq.root, "T01", "E01", out, clock, pin=TEST_PIN)
    open_station(TerminalDir(out))
    store = Store(TerminalDir(out).store_path)
    insert_voters(store, VOTERS)
    store.close()
    env.terminals["T01"] = TerminalDir(out)
    return env


def _node_with_own_cert(hq: HqDir, root: Path, name: str) -> HqDir:
    """A copy of HQ's directory (its store as replicated to another machine) whose TLS certificate
    and key are its own: issued by the election CA for ``name``."""
    shutil.copytree(hq.root, root)
    p = PkiPaths(HqDir(root).pki)
    ca_key = serialization.load_pem_private_key(p.ca_key.read_bytes(), None)
    ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    p.hq_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    p.hq_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    assert cert.fingerprint(hashes.SHA256()) != x509.load_pem_x509_certificate(
        PkiPaths(hq.pki).hq_cert.read_bytes()).fingerprint(hashes.SHA256())
    return HqDir(root)


async def _start(hq: HqDir, port: int) -> tuple[HqNode, web.AppRunner]:
    node = HqNode(hq, HqSettings())
    return node, await serve(node, "127.0.0.1", port)


async def _stop(node: HqNode, runner: web.AppRunner) -> None:
    await node.stop()
    await runner.cleanup()


async def test_first_node_stopped_agent_reaches_second(tmp_path: Path) -> None:
    port_a, port_b = free_port(), free_port()
    env = _two_node_env(tmp_path, port_a, port_b)
    a, b = f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"
    agent = env.agent("T01")
    assert agent.nodes.addresses == (a, b)  # from the terminal's election.toml, in its order
    node_a, runner_a = await _start(env.hq, port_a)
    task = asyncio.create_task(agent.run())
    node_b = runner_b = None
    try:
        await asyncio.wait_for(agent.online.wait(), 15)
        assert agent.hq_address == a and agent.status()["hq"] == a
        _, res = await checkin(agent, VOTERS[0].voter_id)
        assert res is not None and not res.provisional and not res.withheld
        await asyncio.wait_for(until_acked(agent), 10)

        await _stop(node_a, runner_a)  # the first node is gone
        await _until(lambda: not agent.online.is_set())
        # the second node: HQ's store as it stood, its own certificate for the same HQ name
        hq_b = _node_with_own_cert(env.hq, tmp_path / "hq-b", hq_server_name(ELECTION))
        node_b, runner_b = await _start(hq_b, port_b)
        await _until(lambda: agent.online.is_set() and agent.hq_address == b)
        assert node_b.frames_in > 0
        nodes = {n["address"]: n for n in agent.status()["hq_nodes"]}
        assert nodes[b]["current"] and nodes[b]["failures"] == 0 and nodes[a]["failures"] >= 1

        _, res = await checkin(agent, VOTERS[1].voter_id)
        assert res is not None and not res.provisional and not res.withheld  # decided by the second node
        await asyncio.wait_for(until_acked(agent), 10)
        assert agent.pending() == 0
        voted = {voter for voter, _ in node_b.ledger.voted_set()}
        assert {VOTERS[0].voter_id, VOTERS[1].voter_id} <= voted  # the first node's check-in and its own
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        if node_b is not None and runner_b is not None:
            await _stop(node_b, runner_b)


async def test_server_with_another_name_is_refused_and_the_next_node_reached(tmp_path: Path) -> None:
    port_a, port_b = free_port(), free_port()
    env = _two_node_env(tmp_path, port_a, port_b)
    # first in the list: a server holding a certificate of the election CA for another name
    impostor = _node_with_own_cert(env.hq, tmp_path / "hq-x", "hq.other-election.meibo")
    node_x, runner_x = await _start(impostor, port_a)
    node_b, runner_b = await _start(env.hq, port_b)  # the second node shares HQ's own certificate
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), 15)
        assert agent.hq_address == f"127.0.0.1:{port_b}"
        first = agent.status()["hq_nodes"][0]
        assert first["failures"] >= 1 and "certificate" in str(first["last_error"]).lower(), first
        assert node_x.frames_in == 0  # no frame ever reached the other name's server
        _, res = await checkin(agent, VOTERS[2].voter_id)
        assert res is not None and not res.provisional
        await asyncio.wait_for(until_acked(agent), 10)
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        await _stop(node_x, runner_x)
        await _stop(node_b, runner_b)
