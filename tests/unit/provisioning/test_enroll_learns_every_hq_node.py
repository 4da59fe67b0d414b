"""A terminal enrolled with no ``--hq`` knows every HQ node (issue 18): the card names one HQ
address, the enrollment goes to that node's window, and the terminal keeps the election.toml HQ
sent, whose ``[hq] addresses`` lists both nodes, so its sync agent dials both, in the election's
order, whichever node enrolled it. Fake reader, real TLS enrollment servers (hq/enroll_server.py),
the second node made by ``hq add-node``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from appliance.dirs import HqDir, TerminalDir
from appliance.terminal import Terminal
from ground.errors import MeiboError
from hq.enroll_server import EnrollService, serve_enrollment
from hq.nodes import add_node
from hq.roll import import_roll, publish
from hq.terminals import hq_init
from provisioning.applet import Applet
from provisioning.enroll_client import EnrollSettings, enroll
from sync_protocol.client import SyncAgent
from tests.builders import election_toml
from tests.unit.provisioning.test_enroll_forged_card_and_replay import CLOCK, PIN, card_in_reader
from appliance.synth import SynthSettings, write_roll_file

FAST = EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0)


def _free_port_above_1024() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port > 1025:
            return port


@pytest.fixture
def two_nodes(tmp_path: Path) -> tuple[HqDir, list[str], int]:
    """HQ whose election lists two nodes; the first node's enrollment window (its sync port + 1)
    is a free port, so the card's address leads to it with no ``--hq``."""
    window = _free_port_above_1024()
    nodes = [f"127.0.0.1:{window - 1}", f"127.0.0.1:{_free_port_above_1024()}"]
    one = f'address = "{nodes[0]}"'
    text = election_toml(hq_address=nodes[0])
    assert one in text
    cfg = tmp_path / "election.toml"
    cfg.write_text(text.replace(one, f'addresses = ["{nodes[0]}", "{nodes[1]}"]'), "utf-8")
    hq = HqDir(tmp_path / "hq")
    hq_init(hq.root, cfg, CLOCK)
    csv = tmp_path / "roll.csv"
    write_roll_file(SynthSettings(voters=50, seed=2), csv)
    import_roll(hq, csv, CLOCK)
    publish(hq, None, CLOCK, full=True)
    return hq, nodes, window


def _dialled(tdir: Path) -> tuple[str, ...]:
    t = TerminalDir(tdir)
    with Terminal.open(t, CLOCK) as term:
        return SyncAgent(t, term).nodes.addresses


async def test_enrolled_with_no_hq_option_the_terminal_dials_every_node(
        two_nodes: tuple[HqDir, list[str], int], tmp_path: Path) -> None:
    hq, nodes, window = two_nodes
    reader, _ = card_in_reader(hq)
    ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", window)
    try:
        r = await enroll(tmp_path / "T01", reader, "r", lambda _t: PIN, CLOCK, settings=FAST)
    finally:
        await ep.stop()
    assert r.enrolled_via == f"127.0.0.1:{window}"
    assert r.hq_address == nodes[0] and r.hq_addresses == tuple(nodes)
    t = TerminalDir(tmp_path / "T01")
    assert t.identity().hq_address == nodes[0]
    assert t.config().hq_nodes == tuple(nodes)
    assert _dialled(t.root) == tuple(nodes)


async def test_enrolled_through_the_second_node_the_terminal_still_dials_both_in_order(
        two_nodes: tuple[HqDir, list[str], int], tmp_path: Path) -> None:
    """The first node's window is down; the second node (hq add-node) enrolls: the terminal
    records the election's first node as its HQ and dials both, first node first."""
    hq, nodes, window = two_nodes
    node_b = add_node(hq, tmp_path / "hq-b", "hq-b", CLOCK, host=nodes[1])
    reader, _ = card_in_reader(node_b)  # the card desk of node B issued it (same CA, same election)
    ep = await serve_enrollment(EnrollService(node_b, CLOCK), "127.0.0.1", 0)
    try:
        r = await enroll(tmp_path / "T01", reader, "r", lambda _t: PIN, CLOCK, settings=FAST,
                         hq=[f"127.0.0.1:{window}", f"127.0.0.1:{ep.port}"])
    finally:
        await ep.stop()
    assert r.enrolled_via == f"127.0.0.1:{ep.port}"
    assert r.hq_addresses == tuple(nodes)
    assert _dialled(tmp_path / "T01") == tuple(nodes)


async def test_an_hq_address_missing_from_the_sent_election_is_refused_and_changes_nothing(
        two_nodes: tuple[HqDir, list[str], int], tmp_path: Path) -> None:
    """The office edits election.toml under a running enrollment window so its HQ address is no
    longer listed: the terminal would know one node only, so enrollment stops (config_mismatch)
    before the card is used, and no terminal directory is left."""
    hq, nodes, window = two_nodes
    reader, card = card_in_reader(hq)
    ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", window)  # reads the config now
    text = hq.config_path.read_text("utf-8")
    hq.config_path.write_text(text.replace(f'"{nodes[0]}", ', ""), "utf-8")
    try:
        with pytest.raises(MeiboError) as ei:
            await enroll(tmp_path / "T01", reader, "r", lambda _t: PIN, CLOCK, settings=FAST)
    finally:
        await ep.stop()
    assert ei.value.code == "config_mismatch" and nodes[0] in ei.value.message
    assert not (tmp_path / "T01").exists()
    assert isinstance(card.applet, Applet) and card.applet.state.use_counter == 0
