"""Real automatic database failover for tests, the soak and the demo (issue 18): a one-member etcd
and two Patroni members (自動フェイルオーバー) managing Debian's PostgreSQL 15.

- etcd (Debian's ``etcd``, v3 API) runs as we are, on free loopback ports, its data directory
  under the base. Production runs three etcd members (docs/operations-pg.md); one is enough to
  test Patroni's own behaviour on one machine.
- Each Patroni member is the venv's ``patroni`` run as the ``postgres`` user (it refuses root),
  ``postgresql.bin_dir`` pointing at /usr/lib/postgresql/15/bin, its data, socket directory and
  log under ``<base>/<name>`` (tooling/pgcluster.py's ``new_base``: /tmp, owned by ``postgres``).
- ``synchronous_mode: true`` and ``synchronous_mode_strict: false``: while both members run, no
  commit returns before the replica has flushed it (durable on two machines), and Patroni only
  promotes a member that was the synchronous standby, so no acknowledged commit is lost. Not
  strict: once one machine has died, the survivor keeps accepting writes alone (as the manual
  ``pg_ctl promote`` path does) instead of stopping every polling station until the dead
  machine is repaired.
- The leader is read from Patroni's REST API (``GET /primary`` is 200 only on the leader,
  ``GET /cluster`` lists roles); ``kill()`` SIGKILLs a member's patroni and its postmaster, as a
  machine dying; everything is stopped by PID and removed by ``remove()``.

Every wait polls a condition until a deadline (pgcluster.wait_for); nothing sleeps for luck.

Tooling for tests and the soak: it runs Patroni and etcd as child processes and never imports
them, nor HQ, the CLI or the kiosk; only tests and tooling import it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tooling.meibo_process import free_port
from tooling.pgcluster import (DATABASE, SUPERUSER, PgClusterFailed, PgNode, _alive, _as_postgres, _own, multi_host_dsn,
                               new_base, pg_bin_dir, remove_base, wait_for)

PATRONI = Path(sys.executable).parent / "patroni"
# The venv's interpreter lives under root's home, which ``postgres`` cannot traverse: as root,
# patroni runs on Debian's python3 of the same minor version, with the venv's site-packages
# only (-S: not Debian's dist-packages, whose OpenSSL binding does not match the venv's).
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
SCOPE = "meibo"


@dataclass(frozen=True)
class PatroniSettings:
    """Patroni's DCS timings and the harness's deadlines. ``ttl`` 20, ``loop_wait`` 1 and
    ``retry_timeout`` 3 are the smallest values Patroni 4's config validation accepts (and
    ``loop_wait + 2 * retry_timeout <= ttl``): a dead leader's key expires at most ``ttl`` seconds
    after its last renewal, and the replica takes over within a loop after that."""

    ttl_s: int = 20
    loop_wait_s: int = 1
    retry_timeout_s: int = 3
    start_timeout_s: float = 90.0    # bootstrap + basebackup until leader and streaming sync replica
    failover_timeout_s: float = 60.0  # SIGKILL of the leader until the replica leads
    stop_timeout_s: float = 30.0
    http_timeout_s: float = 2.0


SETTINGS = PatroniSettings()


def _patroni_argv() -> list[str]:
    """How to run the venv's patroni: as ``postgres`` through Debian's python when we are root."""
    if os.geteuid() != 0:
        return [str(PATRONI)]
    spec = importlib.util.find_spec("patroni")
    if spec is None or spec.origin is None:
        raise PgClusterFailed("patroni が入っていません: `pip install patroni[psycopg3,etcd3]`")
    site = Path(spec.origin).parent.parent
    return [*_as_postgres(), "env", f"PYTHONPATH={site}", str(SYSTEM_PYTHON), "-S", "-m", "patroni"]


def _http_get(url: str, timeout_s: float) -> tuple[int, bytes]:
    """GET ``url``: (status, body); (0, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), bytes(e.read())
    except (OSError, ValueError):
        return 0, b""


def _kill_group(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL a process we started in a session of its own, with everything in its group."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@dataclass
class Etcd:
    """A one-member etcd on free loopback ports."""

    home: Path
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self, settings: PatroniSettings = SETTINGS) -> None:
        self.home.mkdir(exist_ok=True)
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = open(self.home / "etcd.log", "ab")
        try:
            self.proc = subprocess.Popen(
                ["etcd", "--name", "e1", "--data-dir", str(self.home / "data"),
                 "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"e1={peer}", "--initial-cluster-state", "new"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        wait_for("etcd の起動", lambda: _http_get(f"{self.url}/health", settings.http_timeout_s)[0] == 200,
                 settings.start_timeout_s, log=self.home / "etcd.log")

    def stop(self) -> None:
        _kill_group(self.proc)


@dataclass
class Member:
    """One Patroni member: its patroni process and the PostgreSQL it manages."""

    name: str
    home: Path
    pg_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def node(self) -> PgNode:
        """The member's PostgreSQL as tooling/pgcluster.py sees one (for connect, pid, kill)."""
        return PgNode(self.name, self.home / "data", self.pg_port, self.home / "sock")

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def config_path(self) -> Path:
        return self.home / "patroni.yml"

    @property
    def log(self) -> Path:
        return self.home / "patroni.log"

    def start(self) -> None:
        """Start (or restart, after ``kill``) the member's patroni; it bootstraps, joins as a
        replica (basebackup, or pg_rewind after a failover) or takes the leader key by itself."""
        if self.proc is not None and self.proc.poll() is None:
            return
        out = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen([*_patroni_argv(), str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)
        finally:
            out.close()

    def kill(self, settings: PatroniSettings = SETTINGS) -> None:
        """The machine died: SIGKILL its patroni (it no longer renews the leader key) and its
        postmaster with the backends (pgcluster's ``PgNode.kill``), no goodbye to anyone."""
        _kill_group(self.proc)
        self.node.kill()

    def stop(self, settings: PatroniSettings = SETTINGS) -> None:
        """A clean stop: SIGTERM patroni, which shuts its PostgreSQL down first."""
        if self.proc is None or self.proc.poll() is not None:
            self.node.kill()
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(settings.stop_timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc)
        self.node.kill()

    def is_leader(self, settings: PatroniSettings = SETTINGS) -> bool:
        """Whether this member's REST API says it is the leader (``GET /primary`` 200)."""
        return _http_get(f"{self.api}/primary", settings.http_timeout_s)[0] == 200

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _config(member: Member, etcd: Etcd, settings: PatroniSettings) -> str:
    """The member's patroni.yml (JSON is YAML): docs/operations-pg.md shows the same settings."""
    conf = {
        "scope": SCOPE,
        "name": member.name,
        "log": {"level": "INFO"},
        "restapi": {"listen": f"127.0.0.1:{member.api_port}", "connect_address": f"127.0.0.1:{member.api_port}"},
        "etcd3": {"hosts": [f"127.0.0.1:{etcd.client_port}"]},
        "bootstrap": {
            "dcs": {
                "ttl": settings.ttl_s, "loop_wait": settings.loop_wait_s,
                "retry_timeout": settings.retry_timeout_s,
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": True, "synchronous_mode_strict": False,
                "postgresql": {
                    "use_pg_rewind": True,
                    "parameters": {
                        "wal_level": "replica", "hot_standby": "on", "max_wal_senders": 10,
                        "wal_keep_size": "256MB", "wal_log_hints": "on", "synchronous_commit": "on",
                        "max_connections": 100, "shared_buffers": "32MB",
                        "dynamic_shared_memory_type": "mmap", "wal_sender_timeout": "10s",
                        "wal_receiver_status_interval": "1s",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, "no-locale", {"username": SUPERUSER}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{member.pg_port}",
            "connect_address": f"127.0.0.1:{member.pg_port}",
            "data_dir": str(member.home / "data"),
            "bin_dir": str(pg_bin_dir()),
            "pgpass": str(member.home / "pgpass"),
            "use_unix_socket": True,
            "authentication": {
                "superuser": {"username": SUPERUSER},
                "replication": {"username": SUPERUSER},
                "rewind": {"username": SUPERUSER},
            },
            "parameters": {"unix_socket_directories": str(member.home / "sock"), "port": member.pg_port},
            "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                       "local replication all trust", "host replication all 127.0.0.1/32 trust"],
        },
    }
    return json.dumps(conf, indent=2)


@dataclass
class PatroniCluster:
    """etcd and two Patroni members under one base directory."""

    base: Path
    etcd: Etcd
    members: list[Member]
    settings: PatroniSettings = SETTINGS

    def cluster(self) -> list[dict[str, object]]:
        """``GET /cluster`` from the first member that answers: each member's role and state."""
        for m in self.members:
            status, body = _http_get(f"{m.api}/cluster", self.settings.http_timeout_s)
            if status == 200:
                members = json.loads(body).get("members", [])
                return [x for x in members if isinstance(x, dict)]
        return []

    def leader(self) -> Member | None:
        """The member whose REST API says it leads, or None (none does, or more than one)."""
        leading = [m for m in self.members if m.running() and m.is_leader(self.settings)]
        return leading[0] if len(leading) == 1 else None

    def replica(self) -> Member | None:
        lead = self.leader()
        return next((m for m in self.members if lead is not None and m is not lead), None)

    def healthy(self) -> bool:
        """A leader that accepts writes and a synchronous standby streaming from it."""
        roles = {(str(x.get("role")), str(x.get("state"))) for x in self.cluster()}
        if not ({("leader", "running"), ("sync_standby", "streaming")} <= roles):
            return False
        lead = self.leader()
        return lead is not None and lead.node.accepts_writes()

    def wait_healthy(self, timeout_s: float | None = None) -> Member:
        """Wait for "leader + streaming sync replica"; the leader."""
        wait_for("Patroni のリーダーと同期レプリカ", self.healthy,
                 self.settings.start_timeout_s if timeout_s is None else timeout_s,
                 log=self.members[0].log)
        lead = self.leader()
        if lead is None:
            raise PgClusterFailed("Patroni のリーダーが見つかりません")
        return lead

    def wait_leader(self, other_than: Member, timeout_s: float | None = None) -> Member:
        """Wait until a member other than ``other_than`` leads and accepts writes; that member."""
        def led() -> bool:
            lead = self.leader()
            return lead is not None and lead is not other_than and lead.node.accepts_writes()

        wait_for("Patroni の自動昇格", led,
                 self.settings.failover_timeout_s if timeout_s is None else timeout_s,
                 log=next(m for m in self.members if m is not other_than).log)
        lead = self.leader()
        assert lead is not None
        return lead

    def dsn(self, dbname: str = DATABASE) -> str:
        """libpq's multi-host DSN naming every member (``target_session_attrs=read-write``)."""
        return multi_host_dsn([m.node for m in self.members], dbname)

    def remove(self) -> None:
        """Kill every member and etcd, and remove the base directory."""
        for m in self.members:
            m.kill(self.settings)
        self.etcd.stop()
        for m in self.members:
            if m.node.pid() is not None:
                m.node.kill()
        remove_base(self.base)


def start_cluster(base: Path | None = None, names: tuple[str, ...] = ("pg1", "pg2"),
                  settings: PatroniSettings = SETTINGS) -> PatroniCluster:
    """etcd, then the members (the first bootstraps, the others basebackup from it); returns once
    a leader accepts writes with a streaming sync replica and the ``meibo`` database exists. On
    a failure everything started is removed before the error propagates."""
    base = base or new_base()
    etcd = Etcd(base / "etcd")
    cluster = PatroniCluster(base, etcd, [], settings)
    try:
        etcd.start(settings)
        for name in names:
            home = base / name
            home.mkdir()
            _own(home)
            (home / "sock").mkdir()
            _own(home / "sock")
            m = Member(name, home)
            m.config_path.write_text(_config(m, etcd, settings), "utf-8")
            _own(m.config_path)
            m.config_path.chmod(0o600)
            cluster.members.append(m)
        cluster.members[0].start()
        wait_for("Patroni の初期化", lambda: cluster.members[0].is_leader(settings),
                 settings.start_timeout_s, log=cluster.members[0].log)
        for m in cluster.members[1:]:
            m.start()
        lead = cluster.wait_healthy()
        lead.node.create_database(DATABASE)
    except BaseException:
        cluster.remove()
        raise
    return cluster


def leftover_alive(cluster: PatroniCluster) -> list[int]:
    """PIDs of the cluster's processes still running (for a test's clean-up check)."""
    pids = [p.pid for p in (cluster.etcd.proc, *(m.proc for m in cluster.members)) if p is not None]
    pids += [pid for m in cluster.members if (pid := m.node.pid()) is not None]
    return [p for p in pids if _alive(p)]


def copy_logs(cluster: PatroniCluster, dest: Path) -> None:
    """Copy the members' and etcd's logs to ``dest`` (a failed test's evidence)."""
    dest.mkdir(parents=True, exist_ok=True)
    for log in [cluster.etcd.home / "etcd.log", *(m.log for m in cluster.members)]:
        if log.exists():
            shutil.copy(log, dest / f"{log.parent.name}-{log.name}")
