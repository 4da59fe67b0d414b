"""Real PostgreSQL servers for tests, the demo and benchmarks: a primary, a streaming standby.

Debian's ``postgresql`` package (``make`` installs it) puts the server binaries in
/usr/lib/postgresql/<major>/bin, off PATH. This module runs them as they are, without systemd and
without touching the machine's own cluster (/etc/postgresql):

- Every server lives in a base directory of its own (``new_base()``: under /tmp, owned by the
  ``postgres`` user), ``<base>/<name>/data`` with its log beside it and a socket directory of its
  own, on a free port. ``remove_base()`` stops what still runs there and removes it all.
- The server refuses to run as root: when we are root, every binary runs as ``postgres``
  (``runuser -u postgres --``). pytest's tmp_path is under a root-only 0700 directory that user
  cannot traverse, hence the base under /tmp.
- Authentication is ``trust`` over the socket and 127.0.0.1 only: these are throwaway servers.
- A node's own settings (port, socket, synchronous standby) sit in ``meibo-node.conf``, included
  from postgresql.conf. pg_basebackup copies the primary's; the standby writes its own over it, so
  it never inherits the primary's port, nor its ``synchronous_standby_names`` (a promoted standby
  that still waited for a synchronous standby of its own would hang on every commit).
- Servers are stopped by the postmaster's PID (postmaster.pid), never by name: other engineers'
  and other test runs' servers share the machine.
- No orphans: pg_ctl daemonises the postmaster, so it would outlive a SIGKILLed owner (a demo, a
  test run). ``new_base()`` therefore starts a watchdog (tooling/lifeline.py) that removes the
  base, servers and all, when the process that made it exits without ``remove_base()``.

Every wait polls a condition until a deadline (``PgSettings``); nothing sleeps for luck.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from ground.errors import MeiboError
from tooling.lifeline import dismiss, watch_base
from tooling.meibo_process import free_port

DATABASE = "meibo"
SUPERUSER = "postgres"
PG_ROOT = Path("/usr/lib/postgresql")
NODE_CONF = "meibo-node.conf"


class PostgresqlMissing(MeiboError):
    """The PostgreSQL server binaries are not installed: install Debian's ``postgresql``."""

    code = "postgresql_missing"


class PgClusterFailed(MeiboError):
    """A server did not start, stop, stream or promote in time; ``details`` has its log's tail."""

    code = "postgresql_failed"


@dataclass(frozen=True)
class PgSettings:
    """How long the harness waits, and how often it looks (STYLE rule 9)."""

    start_timeout_s: float = 60.0     # pg_ctl start -w, pg_basebackup
    stop_timeout_s: float = 30.0      # fast shutdown, SIGKILL
    stream_timeout_s: float = 30.0    # a new standby shows up streaming (and sync) on the primary
    promote_timeout_s: float = 30.0   # pg_ctl promote until the node accepts writes
    poll_interval_s: float = 0.05
    connect_timeout_s: int = 5
    port_attempts: int = 5            # a free port can be taken by another run before we bind it


SETTINGS = PgSettings()


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory (``MEIBO_PG_BIN`` overrides)."""
    forced = os.environ.get("MEIBO_PG_BIN")
    candidates = [Path(forced)] if forced else sorted(
        (p / "bin" for p in PG_ROOT.glob("*") if p.name.isdigit()),
        key=lambda b: int(b.parent.name), reverse=True)
    for b in candidates:
        if all((b / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres", "pg_basebackup")):
            return b
    raise PostgresqlMissing(
        "PostgreSQL のサーバが見つかりません。`apt-get install postgresql`(または `make install`)で"
        "導入してください。", where=str(forced or PG_ROOT), hint="apt-get install postgresql")


def _as_postgres() -> list[str]:
    """The prefix that runs a server binary as the ``postgres`` user when we are root."""
    return ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []


def _run(argv: list[str], *, log: Path | None = None, timeout_s: float, client: bool = False) -> None:
    """Run one binary to completion; a failure says what it printed and the log's tail. The
    server tools run as ``postgres``; a ``client`` (pg_dump, pg_restore) runs as we are, so it
    reads and writes files where we can."""
    exe = str(pg_bin_dir() / argv[0])
    try:
        p = subprocess.run(([] if client else _as_postgres()) + [exe, *argv[1:]], capture_output=True,
                           text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise PgClusterFailed(f"{argv[0]} が {timeout_s:.0f} 秒以内に終わりませんでした",
                              argv=argv, log=_tail(log)) from e
    if p.returncode != 0:
        raise PgClusterFailed(f"{argv[0]} が失敗しました: {(p.stderr or p.stdout).strip()[-500:]}",
                              argv=argv, log=_tail(log))


def _tail(log: Path | None, n: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log else ""
    except OSError:
        return ""


def wait_for(what: str, cond: Callable[[], bool], timeout_s: float, *, log: Path | None = None,
             settings: PgSettings = SETTINGS) -> None:
    """Poll ``cond`` until it holds; past ``timeout_s`` raise ``PgClusterFailed`` naming ``what``
    (with the tail of ``log``): for waiting on a server's state, never a bare sleep."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise PgClusterFailed(f"{what}: {timeout_s:.0f} 秒待っても変わりません", log=_tail(log))
        time.sleep(settings.poll_interval_s)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs. The postmaster is not our child (pg_ctl detaches it), so once dead
    it may stay a zombie until whoever adopted it reaps it: a zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class PgNode:
    """One running (or stopped) server: its data directory, port and socket directory."""

    name: str
    data_dir: Path
    port: int
    socket_dir: Path
    settings: PgSettings = SETTINGS

    @property
    def dsn(self) -> str:
        """libpq keyword form, over the node's own socket, to the ``meibo`` database."""
        return self.dsn_for(DATABASE)

    def dsn_for(self, dbname: str) -> str:
        return f"host={self.socket_dir} port={self.port} dbname={dbname} user={SUPERUSER}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "server.log"

    def connect(self, dbname: str = DATABASE) -> psycopg.Connection[TupleRow]:
        """An autocommit connection (for the harness's own queries and the tests' checks)."""
        return psycopg.connect(self.dsn_for(dbname), autocommit=True,
                               connect_timeout=self.settings.connect_timeout_s)

    def pid(self) -> int | None:
        """The postmaster's PID from postmaster.pid, or None when it is not running."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        pid = int(first) if first.strip().isdigit() else None
        return pid if pid is not None and _alive(pid) else None

    def start(self) -> None:
        """Start a stopped node again (same port, same settings); returns when it accepts
        connections."""
        if self.pid() is None:
            _start(self)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint); waits until gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        wait_for(f"{self.name} の停止", lambda: not _alive(pid), self.settings.stop_timeout_s,
                  log=self.log, settings=self.settings)

    def kill(self) -> None:
        """The machine died: SIGKILL the postmaster and its backends at once, no checkpoint, no
        goodbye to the standby. Its System V segment is removed so runs don't leak them."""
        pid = self.pid()
        if pid is None:
            return
        shm_id = self._shm_id()
        try:  # pg_ctl starts the postmaster in a session of its own: its backends share its group
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_for(f"{self.name} の強制終了", lambda: not _alive(pid), self.settings.stop_timeout_s,
                  log=self.log, settings=self.settings)
        if shm_id is not None:
            subprocess.run(["ipcrm", "-m", str(shm_id)], capture_output=True, check=False)

    def _shm_id(self) -> int | None:
        """postmaster.pid's seventh line is ``<shm key> <shm id>``."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[6].split()[1])
        except (OSError, IndexError, ValueError):
            return None

    def is_primary(self) -> bool:
        """Whether the node is up and out of recovery (a primary, or a promoted standby)."""
        with self.connect("postgres") as conn:
            row = conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])

    def accepts_writes(self) -> bool:
        try:
            with self.connect("postgres") as conn:
                row = conn.execute("SELECT NOT pg_is_in_recovery() AND "
                                   "current_setting('transaction_read_only') = 'off'").fetchone()
        except psycopg.OperationalError:
            return False
        return bool(row and row[0])

    def promote(self) -> None:
        """``pg_ctl promote``: the standby leaves recovery; returns when it accepts writes."""
        _run(["pg_ctl", "promote", "-D", str(self.data_dir), "-w",
              "-t", str(int(self.settings.promote_timeout_s))],
             log=self.log, timeout_s=self.settings.promote_timeout_s + 5)
        wait_for(f"{self.name} の昇格", self.accepts_writes, self.settings.promote_timeout_s,
                  log=self.log, settings=self.settings)

    def set_synchronous_standby(self, name: str | None) -> None:
        """Name (or, with None, drop) the synchronous standby of a running primary, e.g. after a
        promotion, to wait for a new standby. Written to the node's own file, not with ALTER
        SYSTEM: postgresql.auto.conf would travel to every standby made from this node."""
        _write_node_conf(self, name)
        with self.connect("postgres") as conn:
            conn.execute("SELECT pg_reload_conf()")
        wait_for(f"{self.name} の synchronous_standby_names", lambda: self._sync_names() == _quoted(name),
                  self.settings.stream_timeout_s, log=self.log, settings=self.settings)

    def _sync_names(self) -> str:
        with self.connect("postgres") as conn:
            row = conn.execute("SHOW synchronous_standby_names").fetchone()
        return str(row[0]) if row else ""

    def dump(self, path: Path, dbname: str = DATABASE) -> None:
        """``pg_dump -Fc`` of one database into ``path`` (a file we may write)."""
        _run(["pg_dump", "-Fc", "-f", str(path), "-d", self.dsn_for(dbname)],
             log=self.log, timeout_s=self.settings.start_timeout_s, client=True)

    def restore(self, path: Path, dbname: str = DATABASE) -> None:
        """``pg_restore`` a ``dump()`` into ``dbname`` (made empty by start_primary or
        ``create_database``), in one transaction: all of it or nothing."""
        _run(["pg_restore", "--exit-on-error", "--single-transaction", "-d", self.dsn_for(dbname),
              str(path)], log=self.log, timeout_s=self.settings.start_timeout_s, client=True)

    def create_database(self, dbname: str) -> str:
        """A new empty database on this primary; its DSN."""
        if not dbname.replace("_", "").isalnum():
            raise ValueError(f"database name {dbname!r}: letters, digits and '_' only")
        with self.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {dbname}")
        return self.dsn_for(dbname)

    def replayed_all_received(self) -> bool:
        """On a standby: whether every WAL record it has received is applied, so a read sees
        everything it holds (``synchronous_commit = on`` waits for the flush, not the replay)."""
        with self.connect("postgres") as conn:
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()").fetchone()
        return bool(row and row[0])

    def replication(self) -> dict[str, tuple[str, str]]:
        """The primary's view of its standbys: application_name -> (state, sync_state)."""
        with self.connect("postgres") as conn:
            rows = conn.execute("SELECT application_name, state, sync_state "
                                "FROM pg_stat_replication").fetchall()
        return {str(a): (str(s), str(y)) for a, s, y in rows}


def multi_host_dsn(nodes: Sequence[PgNode], dbname: str = DATABASE) -> str:
    """One DSN naming every node, libpq's multi-host form: a connection goes to whichever of
    them accepts writes now (``target_session_attrs=read-write``), so after a promotion a new
    connection finds the new primary."""
    hosts = ",".join(str(n.socket_dir) for n in nodes)
    ports = ",".join(str(n.port) for n in nodes)
    return f"host={hosts} port={ports} dbname={dbname} user={SUPERUSER} target_session_attrs=read-write"


def _quoted(name: str | None) -> str:
    """A standby name for synchronous_standby_names (double-quoted: names are case-folded)."""
    if name is None:
        return ""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"standby name {name!r}: letters, digits, '-' and '_' only")
    return f'"{name}"'


# Each base's watchdog (tooling/lifeline.py), dismissed by remove_base once the base is gone.
_WATCHDOGS: dict[Path, subprocess.Popen[bytes]] = {}


def new_base() -> Path:
    """A fresh base directory under /tmp for servers, owned by ``postgres`` when we are root,
    watched: if this process dies before ``remove_base()``, its watchdog removes it."""
    base = Path(tempfile.mkdtemp(prefix="meibo-pg-", dir="/tmp"))
    try:
        _own(base)
        _WATCHDOGS[base] = watch_base(base)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return base


def remove_base(base: Path) -> None:
    """Stop every server still running under ``base`` (SIGKILL: it is being thrown away), then
    remove it, then dismiss its watchdog (the watchdog itself has none of its own)."""
    for pidfile in base.glob("*/data/postmaster.pid"):
        data = pidfile.parent
        PgNode(data.parent.name, data, 0, data.parent / "sock").kill()
    shutil.rmtree(base, ignore_errors=True)
    watchdog = _WATCHDOGS.pop(base, None)
    if watchdog is not None:
        dismiss(watchdog)


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(SUPERUSER)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(0o700)


def _node_dir(base: Path, name: str) -> tuple[Path, Path]:
    """``<base>/<name>`` (the log lives there) and its socket directory; data/ is made by initdb
    or pg_basebackup."""
    home = base / name
    if home.exists():
        raise PgClusterFailed(f"{home} はすでにあります", name=name)
    home.mkdir()
    _own(home)
    sock = home / "sock"
    sock.mkdir()
    _own(sock)
    return home, sock


def _write_node_conf(node: PgNode, synchronous_standby: str | None) -> None:
    """The node's own settings; as ``postgres`` must read it, it is written and then handed over."""
    path = node.data_dir / NODE_CONF
    path.write_text(
        "# written by tooling/pgcluster.py: this node's own settings\n"
        f"port = {node.port}\n"
        f"unix_socket_directories = '{node.socket_dir}'\n"
        "listen_addresses = '127.0.0.1'\n"
        f"synchronous_standby_names = '{_quoted(synchronous_standby)}'\n")
    _own(path)
    path.chmod(0o600)


# Common to every node, appended to postgresql.conf by start_primary (so the standby copies it).
# Small memory: several servers share a two-core test machine. dynamic_shared_memory_type=mmap
# keeps a SIGKILLed server's segments in its data directory, not in /dev/shm.
CLUSTER_CONF = f"""
# written by tooling/pgcluster.py
wal_level = replica
max_wal_senders = 10
wal_keep_size = '256MB'
hot_standby = on
synchronous_commit = on
fsync = on
shared_buffers = '32MB'
max_connections = 100
dynamic_shared_memory_type = mmap
wal_sender_timeout = '10s'
wal_receiver_status_interval = '1s'
log_min_messages = warning
include_if_exists = '{NODE_CONF}'
"""


def _start(node: PgNode) -> None:
    _run(["pg_ctl", "start", "-D", str(node.data_dir), "-l", str(node.log), "-w",
          "-t", str(int(node.settings.start_timeout_s))],
         log=node.log, timeout_s=node.settings.start_timeout_s + 5)


def _start_on_free_port(node: PgNode) -> None:
    """Start a new node (no synchronous standby yet); when its port was taken meanwhile (by
    another run), try another one."""
    for attempt in range(node.settings.port_attempts):
        _write_node_conf(node, None)
        try:
            _start(node)
            return
        except PgClusterFailed:
            if attempt + 1 == node.settings.port_attempts or "could not bind" not in _tail(node.log):
                raise
            node.port = free_port()


def start_primary(base: Path, name: str = "pg1", *, synchronous_standby: str | None = None,
                  settings: PgSettings = SETTINGS) -> PgNode:
    """initdb, start and create the ``meibo`` database. With ``synchronous_standby``, every
    commit then waits until that standby has flushed it (``synchronous_commit = on``): no commit
    returns before the standby has it, and none at all while it is away. The name is set after
    the database is made: CREATE DATABASE would otherwise wait for a standby not yet there."""
    home, sock = _node_dir(base, name)
    node = PgNode(name, home / "data", free_port(), sock, settings)
    _run(["initdb", "-D", str(node.data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
          "--no-locale", "--no-instructions"], timeout_s=settings.start_timeout_s)
    conf = node.data_dir / "postgresql.conf"
    with conf.open("a") as f:  # root may append; the file stays postgres's
        f.write(CLUSTER_CONF)
    _start_on_free_port(node)
    node.create_database(DATABASE)
    if synchronous_standby is not None:
        node.set_synchronous_standby(synchronous_standby)
    return node


def start_standby(primary: PgNode, base: Path, name: str = "pg2", *,
                  settings: PgSettings = SETTINGS) -> PgNode:
    """pg_basebackup -R from ``primary`` (``application_name=<name>``, which is what the
    primary's ``synchronous_standby_names`` names), start it; returns once the primary sees it
    streaming, and as ``sync`` when it is the primary's synchronous standby."""
    home, sock = _node_dir(base, name)
    node = PgNode(name, home / "data", free_port(), sock, settings)
    source = (f"host={primary.socket_dir} port={primary.port} user={SUPERUSER} "
              f"application_name={name}")
    _run(["pg_basebackup", "-D", str(node.data_dir), "-d", source, "-R", "-X", "stream",
          "-c", "fast"], log=primary.log, timeout_s=settings.start_timeout_s)
    _start_on_free_port(node)
    sync_wanted = _quoted(name) in primary._sync_names()

    def streams() -> bool:
        state, sync = primary.replication().get(name, ("", ""))
        return state == "streaming" and (sync == "sync" or not sync_wanted)

    wait_for(f"{name} のストリーミング", streams, settings.stream_timeout_s, log=node.log,
              settings=settings)
    return node
