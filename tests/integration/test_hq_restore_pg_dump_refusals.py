"""What `meibo hq backup` / `meibo hq restore` refuse on a PostgreSQL store, and that a refusal
changes nothing (issue 18, hq/backup_pg.py). Real servers (tests/pg_fixtures.py) and the real
pg_dump / pg_restore: a database holding HQ's records is not replaced unless asked, another
election's backup is not restored, a restore whose rows do not match the manifest is undone, a
missing or failing pg_dump says so with a stable code, and a pg_dump is not restored onto SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from appliance.dirs import HqDir
from ground.clock import FixedClock
from ground.model import TerminalId
from hq.store import HqStore
from hq.terminals import hq_init
from tests.builders import EARLY_NOON, election_toml
from tests.integration.sync_env import Env, make_env
from tests.pg_fixtures import PgServer
from tests.security_helpers import meibo


def _hq_with_rows(tmp_path: Path, dsn: str, contacts: tuple[str, ...] = ("T01",)) -> Env:
    env = make_env(tmp_path, {"T01": "E01"})
    store = HqStore(env.hq, store_url=dsn)
    try:
        for t in contacts:
            store.touch(TerminalId(t), "10.20.0.5", "3")
        store.record_rollback(TerminalId("T01"), 1, 2)
    finally:
        store.close()
    return env


def _contacts(env: Env, dsn: str) -> list[str]:
    store = HqStore(HqDir(env.hq.root), store_url=dsn)
    try:
        return sorted(store.contacts())
    finally:
        store.close()


def _tables(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                           "ORDER BY tablename").fetchall()]


def _backup(monkeypatch, capsys, env: Env, dsn: str, out: Path) -> dict:
    rc, m = meibo(monkeypatch, capsys, "hq", "backup", str(env.hq.root), "--store", dsn, "--out", str(out))
    assert rc == 0, m
    return m


def test_a_database_holding_hq_records_is_replaced_only_when_asked_and_its_rows_are_kept(
        tmp_path: Path, pg_server: PgServer, monkeypatch, capsys) -> None:
    dsn = pg_server.fresh_database()
    env = _hq_with_rows(tmp_path, dsn)
    _backup(monkeypatch, capsys, env, dsn, tmp_path / "bk")
    store = HqStore(env.hq, store_url=dsn)
    try:
        store.touch(TerminalId("T02"), "10.20.0.6", "2")  # after the backup
    finally:
        store.close()
    before = sorted(p.relative_to(env.hq.root) for p in env.hq.root.rglob("*"))

    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root), "--store", dsn)
    assert rc == 2 and out["code"] == "restore_target_not_empty" and "--replace" in out["message"]
    assert _contacts(env, dsn) == ["T01", "T02"]  # nothing changed, in the database or HQDIR
    assert sorted(p.relative_to(env.hq.root) for p in env.hq.root.rglob("*")) == before
    assert not list(tmp_path.glob("hq.before-restore-*")) and not (tmp_path / "hq.partial").exists()

    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root), "--store", dsn,
                    "--replace")
    assert rc == 0, out
    assert _contacts(env, dsn) == ["T01"]  # the backup's rows
    kept = Path(out["moved_aside"]) / "store-before-restore.dump"
    fresh = pg_server.fresh_database()  # the rows replaced are evidence: a dump pg_restore takes
    pg_server.node.restore(kept, str(psycopg.conninfo.conninfo_to_dict(fresh)["dbname"]))
    assert _contacts(env, fresh) == ["T01", "T02"]


def test_another_elections_backup_is_refused_and_changes_nothing(
        tmp_path: Path, pg_server: PgServer, monkeypatch, capsys) -> None:
    other_dsn, dsn = pg_server.fresh_database(), pg_server.fresh_database()
    (tmp_path / "other").mkdir()
    cfg = tmp_path / "other" / "election.toml"
    cfg.write_text(election_toml(election_id="another-election"), "utf-8")
    other = HqDir(tmp_path / "other" / "hq")
    hq_init(other.root, cfg, FixedClock(EARLY_NOON))
    HqStore(other, store_url=other_dsn).close()
    rc, m = meibo(monkeypatch, capsys, "hq", "backup", str(other.root), "--store", other_dsn,
                  "--out", str(tmp_path / "bk"))
    assert rc == 0 and m["election"] == "another-election"
    env = _hq_with_rows(tmp_path / "site", dsn)

    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root), "--store", dsn,
                    "--replace")
    assert rc == 2 and out["code"] == "backup_other_election"
    assert "another-election" in out["message"] and "sync-test" in out["message"]
    assert _contacts(env, dsn) == ["T01"] and HqDir(env.hq.root).config().election_id == "sync-test"


@pytest.mark.parametrize("target", ["empty", "replaced"])
def test_a_restore_that_does_not_match_the_manifest_is_undone(
        target: str, tmp_path: Path, pg_server: PgServer, monkeypatch, capsys) -> None:
    dsn = pg_server.fresh_database()
    env = _hq_with_rows(tmp_path, dsn, ("T01", "T02"))
    _backup(monkeypatch, capsys, env, dsn, tmp_path / "bk")
    manifest_path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest["database"]["tables"]["contacts"]["rows"] = 3  # the manifest says what the dump does not hold
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    if target == "empty":
        into = pg_server.fresh_database()
    else:
        into = pg_server.fresh_database()
        _hq_with_rows(tmp_path / "before", into, ("T09",))
    tables_before = _tables(into)

    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root), "--store", into,
                    "--replace")
    assert rc == 1 and out["code"] == "restore_mismatch" and "contacts" in out["message"]
    assert _tables(into) == tables_before  # as it was: nothing half restored for HQ to start on
    if target == "replaced":
        assert _contacts(env, into) == ["T09"]
    assert HqDir(env.hq.root).config().election_id == "sync-test" and not (tmp_path / "hq.partial").exists()


def test_a_missing_pg_dump_says_how_to_install_it_and_writes_no_backup(
        tmp_path: Path, pg_database: str, monkeypatch, capsys) -> None:
    env = _hq_with_rows(tmp_path, pg_database)
    (tmp_path / "nobin").mkdir()
    monkeypatch.setenv("MEIBO_PG_BIN", str(tmp_path / "nobin"))
    rc, out = meibo(monkeypatch, capsys, "hq", "backup", str(env.hq.root), "--store", pg_database,
                    "--out", str(tmp_path / "bk"))
    assert rc == 2 and out["code"] == "pg_dump_missing" and "postgresql-client" in out["message"]
    assert not (tmp_path / "bk").exists() and not (tmp_path / "bk.partial").exists()


def test_a_failing_pg_dump_is_reported_and_leaves_no_backup(
        tmp_path: Path, pg_server: PgServer, monkeypatch, capsys) -> None:
    dsn = pg_server.fresh_database()
    env = _hq_with_rows(tmp_path, dsn)
    with pg_server.node.connect() as conn:  # a role that may log in but not read HQ's tables
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'noread') "
                     "THEN CREATE ROLE noread LOGIN; END IF; END $$")
    reader = dsn.replace("user=postgres", "user=noread")
    rc, out = meibo(monkeypatch, capsys, "hq", "backup", str(env.hq.root), "--store", reader,
                    "--out", str(tmp_path / "bk"))
    assert rc == 1 and out["code"] == "pg_dump_failed" and "permission denied" in out["message"]
    assert not (tmp_path / "bk").exists() and not (tmp_path / "bk.partial").exists()


def test_a_pg_dump_backup_is_not_restored_onto_sqlite(
        tmp_path: Path, pg_database: str, monkeypatch, capsys) -> None:
    env = _hq_with_rows(tmp_path, pg_database)
    _backup(monkeypatch, capsys, env, pg_database, tmp_path / "bk")
    rc, out = meibo(monkeypatch, capsys, "hq", "restore", str(tmp_path / "bk"), str(env.hq.root), "--store", "sqlite")
    assert rc == 2 and out["code"] == "backup_needs_postgresql" and "--logical" in out["message"]
    assert not env.hq.hq_db.exists()
