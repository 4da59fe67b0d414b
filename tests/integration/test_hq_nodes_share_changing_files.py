"""Two HQ nodes made by ``meibo hq add-node`` share the files that change during the election
through their one PostgreSQL store (hq/shared_files.py, issue 18), with real TLS 1.3 and a real
PostgreSQL server (tests/pg_fixtures.py, one per module):

- a terminal revoked on node A after add-node is refused in the TLS handshake by node B within
  B's CRL keeper period (B pulls the registry and the CRL, and swaps its TLS context);
- a terminal enrolled on A (``hq enroll-local``) is served by B;
- a roll published on A is offered by B after B takes over as the leader;
- a card cancelled on A (``provision cancel-card``, the store from election.toml) is cancelled on B;
- a file changed on both nodes apart: registries merged (a revocation kept), any other file the
  store's copy with the losing one kept beside it;
- a corrupted ``hq_files`` row (digest mismatch, or a name outside the shared files) is refused
  with ``shared_file_invalid`` and nothing on disk changes.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiohttp
import psycopg
import pytest

from appliance.dirs import HqDir, TerminalDir
from appliance.store import Store
from appliance.synth import SynthSettings, write_roll_file
from cli.main import main
from ground.clock import FixedClock, SystemClock
from ground.model import StationId, TerminalId
from hq.nodes import add_node
from hq.roll import import_roll, publish
from hq.server import HqNode, HqSettings, serve
from hq.shared_files import STATE_FILE, SharedFileInvalid, SharedFiles, merge_registries
from hq.standby import Standby, StandbySettings
from hq.store import read_registry, update_registry
from hq.terminals import enroll_local, revoke_terminal
from provisioning import cards, pki
from provisioning.pki import CrlSettings, hq_server_name
from sync_protocol.tls import client_context
from tests.builders import EARLY_NOON, TEST_PIN, insert_voters, open_station
from tests.integration.hq_nodes_env import until
from tests.integration.sync_env import VOTERS, free_port, make_env
from tests.pg_fixtures import PgServer

ELECTION = "sync-test"
FAST = HqSettings(crl=CrlSettings(check_interval_s=0.1))  # the keeper's look (and the files' pull) period


async def handshake_refused(tdir: TerminalDir, port: int) -> bool:
    """A fresh TLS 1.3 handshake with the terminal's certificate: True when HQ aborts it."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(tdir.tls),
                                                       server_hostname=hq_server_name(ELECTION))
    except (ssl.SSLError, ConnectionError):
        return True
    try:
        writer.write(b"GET /nothing HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(64), 5) == b""
    except (ssl.SSLError, ConnectionError):
        return True
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ssl.SSLError, ConnectionError):
            pass


async def ws_connects(tdir: TerminalDir, port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"wss://127.0.0.1:{port}/sync", ssl=client_context(tdir.tls),
                                       server_hostname=hq_server_name(ELECTION))
            ok = not ws.closed
            await ws.close()
            return ok
    except aiohttp.ClientError:
        return False


def files_of(hq: HqDir) -> dict[str, bytes]:
    return {str(p.relative_to(hq.root)): p.read_bytes() for p in sorted(hq.root.rglob("*")) if p.is_file()}


async def test_a_terminal_revoked_on_a_after_add_node_is_refused_in_tls_by_b(
        tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path, {"T01": "E01", "T02": "E02"})
    dsn = pg_server.fresh_database()
    b_dir = add_node(env.hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    port_b = free_port()
    b = HqNode(b_dir, FAST, store_url=dsn, node_name="hq-b")
    runner = await serve(b, "127.0.0.1", port_b)
    try:
        assert await ws_connects(env.terminals["T01"], port_b)
        serial = max(pki.serials_of_terminal(env.hq.pki, "T01"))
        reloads = b.tls.reloads
        # on node A's directory, A not serving: the registry and the CRL, published to the store
        await asyncio.to_thread(revoke_terminal, env.hq.root, "T01", "紛失", SystemClock(), None, dsn)

        def b_knows() -> bool:
            info = pki.read_crl(b_dir.pki)
            return (read_registry(b_dir)["T01"].revoked and info is not None and serial in info.serials
                    and b.tls.reloads > reloads)
        await until(b_knows, 15)
        assert await handshake_refused(env.terminals["T01"], port_b)  # in TLS, not only by the registry
        assert not await ws_connects(env.terminals["T01"], port_b)  # aiohttp.ClientError on the client
        assert await ws_connects(env.terminals["T02"], port_b)  # everyone else is still served
    finally:
        await b.stop()
        await runner.cleanup()


async def test_a_terminal_enrolled_on_a_is_served_by_b(tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    dsn = pg_server.fresh_database()
    b_dir = add_node(env.hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    port_b = free_port()
    b = HqNode(b_dir, FAST, store_url=dsn, node_name="hq-b")
    runner = await serve(b, "127.0.0.1", port_b)
    out = tmp_path / "T03"
    try:
        await asyncio.to_thread(enroll_local, env.hq.root, "T03", "E01", out, env.clock, pin=TEST_PIN,
                                store_url=dsn)
        open_station(TerminalDir(out))
        store = Store(TerminalDir(out).store_path)
        insert_voters(store, VOTERS)
        store.close()
        await until(lambda: "T03" in b.store.registry, 15)
        serial = max(pki.serials_of_terminal(env.hq.pki, "T03"))
        assert serial in pki.serials_of_terminal(b_dir.pki, "T03")  # the CA's register came along
        env.terminals["T03"] = TerminalDir(out)
        agent = env.agent("T03", hq_address=f"127.0.0.1:{port_b}")
        task = asyncio.create_task(agent.run())
        try:
            await asyncio.wait_for(agent.online.wait(), 10)
        finally:
            agent.stop()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await b.stop()
        await runner.cleanup()


async def test_a_roll_published_on_a_is_offered_by_b_after_it_takes_over(
        tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    dsn = pg_server.fresh_database()
    b_dir = add_node(env.hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    a = HqNode(env.hq, FAST, store_url=dsn, node_name="hq-a")
    runner = await serve(a, "127.0.0.1", env.port)
    sb = Standby(b_dir, dsn, StandbySettings(poll_s=0.05, grace_s=0.2, files_poll_s=0.1))
    waiting = asyncio.create_task(sb.wait_for_lead())
    b: HqNode | None = None
    try:
        csv = tmp_path / "roll.csv"
        write_roll_file(SynthSettings(voters=200, seed=3), csv)
        await asyncio.to_thread(import_roll, env.hq, csv, env.clock)
        res = await asyncio.to_thread(publish, env.hq, None, env.clock, full=True)
    finally:  # A stops at once: whatever its keeper has not looked at yet goes with its last step
        await a.stop()
        await runner.cleanup()
    await asyncio.wait_for(waiting, 15)
    try:
        b = HqNode(b_dir, FAST, store_url=dsn, node_name="hq-b", standby=sb)  # pulls before it serves
        assert b.roll_version() == res.manifest.version == 1  # what B's WELCOME offers
        assert (b_dir.rolls / res.path.name).read_bytes() == res.path.read_bytes()
        roll = Store(env.hq.roll_db)
        try:
            voter = roll.conn.execute("SELECT voter_id FROM published LIMIT 1").fetchone()[0]
        finally:
            roll.close()
        assert b.ledger.roll is not None and voter in b.ledger.roll  # B screens against the new roll
    finally:
        if b is not None:
            await b.stop()


def test_a_corrupted_row_is_refused_and_nothing_on_disk_changes(tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    dsn = pg_server.fresh_database()
    b_dir = add_node(env.hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    a = SharedFiles(env.hq, dsn, "hq-a")
    b = SharedFiles(b_dir, dsn, "hq-b")
    try:
        assert "terminals.json" in a.sync().published
        b.sync()
        assert (b_dir.root / STATE_FILE).exists()
        revoke_terminal(env.hq.root, "T01", "紛失", SystemClock(), None, dsn)
        with psycopg.connect(dsn, autocommit=True) as c:  # the row's body no longer matches its digest
            c.execute("UPDATE hq_files SET body = %s WHERE name = 'terminals.json'", (b"[]",))
        before = files_of(b_dir)
        with pytest.raises(SharedFileInvalid) as exc:
            b.sync()
        assert exc.value.code == "shared_file_invalid" and exc.value.details.get("name") == "terminals.json"
        assert files_of(b_dir) == before  # not even the CRL that was fine: one bad row changes nothing
        assert not read_registry(b_dir)["T01"].revoked
        with psycopg.connect(dsn, autocommit=True) as c:  # a row naming a file outside the shared ones
            c.execute("UPDATE hq_files SET name = '../escape' WHERE name = 'terminals.json'")
        with pytest.raises(SharedFileInvalid):
            b.sync()
        assert files_of(b_dir) == before and not (tmp_path / "escape").exists()
    finally:
        a.close()
        b.close()


def test_two_registries_changed_apart_are_merged_and_a_revocation_is_never_lost() -> None:
    entry = {"terminal": "T01", "station": "E01", "device_pub": "aa", "enrolled_at": "t1", "revoked": False,
             "tls_serials": [5]}
    revoked = {**entry, "revoked": True, "revoked_reason": "紛失", "tls_serials": [5, 3]}
    other = {"terminal": "T09", "station": "E02", "device_pub": "bb", "enrolled_at": "t2", "revoked": False}
    merged = json.loads(merge_registries(json.dumps([entry, other]).encode(), json.dumps([revoked]).encode()))
    assert {d["terminal"] for d in merged} == {"T01", "T09"} and len(merged) == 2
    t01 = next(d for d in merged if d["terminal"] == "T01")
    assert t01["revoked"] and t01["revoked_reason"] == "紛失" and t01["tls_serials"] == [3, 5]


def test_a_card_cancelled_on_a_is_cancelled_on_b_through_election_tomls_store(
        tmp_path: Path, pg_server: PgServer, capsys: pytest.CaptureFixture[str]) -> None:
    """The offline commands find the store in ``[hq] store`` (no --store): ``provision
    cancel-card`` on A reaches B's card register, which a card enrollment on B checks."""
    env = make_env(tmp_path, {"T01": "E01"})
    dsn = pg_server.fresh_database()
    text = env.hq.config_path.read_text("utf-8")
    env.hq.config_path.write_text(text.replace("[hq]\n", f"[hq]\nstore = {json.dumps(dsn)}\n", 1), "utf-8")
    b_dir = add_node(env.hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    serial = "00112233445566AA"
    cards.record_issued(env.hq.root, cards.CardRecord(serial, ELECTION, TerminalId("T05"), StationId("E01"),
                                                      "ab" * 32, env.clock.now().isoformat()))
    assert main(["provision", "cancel-card", str(env.hq.root), serial, "--reason", "紛失", "--json"]) == 0
    capsys.readouterr()
    b = SharedFiles(b_dir, dsn, "hq-b")
    try:
        assert "cards.json" in b.sync().pulled
    finally:
        b.close()
    assert cards.find_card(b_dir.root, serial).state is cards.CardRecordState.CANCELLED


def test_a_file_changed_on_both_nodes_keeps_both_changes_or_the_losing_copy(
        tmp_path: Path, pg_server: PgServer) -> None:
    """Changed apart (a writer that ran without the store): the registries are merged and the
    revocation made on B survives A's later change; any other file takes the store's copy and
    keeps B's beside it, never dropped."""
    env = make_env(tmp_path, {"T01": "E01", "T02": "E02"})
    dsn = pg_server.fresh_database()
    b_dir = add_node(env.hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    a = SharedFiles(env.hq, dsn, "hq-a")
    b = SharedFiles(b_dir, dsn, "hq-b")
    try:
        a.sync()
        b.sync()
        update_registry(b_dir, "T02", revoked=True, revoked_reason="紛失")  # on B, the store not asked
        (b_dir.root / "cards.json").write_bytes(b'{"cards": [], "by": "b"}')
        update_registry(env.hq, "T01", station="E02")  # on A, published first
        (env.hq.root / "cards.json").write_bytes(b'{"cards": [], "by": "a"}')
        assert set(a.sync().published) == {"terminals.json", "cards.json"}
        res = b.sync()
        assert res.merged == ["terminals.json"] and res.conflicts == ["cards.json"]
        merged = read_registry(b_dir)
        assert merged["T02"].revoked and merged["T01"].station == "E02"
        assert (b_dir.root / "cards.json").read_bytes() == b'{"cards": [], "by": "a"}'
        kept = list(b_dir.root.glob("cards.json.conflict-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == b'{"cards": [], "by": "b"}'
        assert "terminals.json" in res.published  # the merge goes back to the store ...
        a.sync()
        assert read_registry(env.hq)["T02"].revoked  # ... and A takes it: the revocation is not lost
    finally:
        a.close()
        b.close()
