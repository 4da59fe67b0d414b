"""Where things live in an HQ directory (HQDIR) and a terminal directory (TDIR).

HQDIR                                   TDIR
  election.toml                           election.toml       (HQ's copy, as enrolled)
  keys/roll_signing.key (0600) .pub       terminal.toml       (terminal, station, election, hq)
  pki/ ca.pem ca.key hq.pem hq.key crl.pem keys/device.key (0600) device.pub hq_roll.pub
  roll.db      master roll + versions     tls/ client.pem client.key ca.pem
  hq.db        ingest, verdicts, alerts   store.db            roll replica, journal, voted flags
  rolls/       published roll packages
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ground.config import load_config
from ground.errors import ApplianceError, UsageError
from ground.model import ElectionConfig, StationId, TerminalId


def _fsync_dir(path: Path) -> None:
    """A rename is durable only once its directory is synced (a power cut may otherwise undo it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_with(path: Path, data: bytes, mode: int) -> None:
    """Temp file of its own in the same directory + fsync + rename + directory fsync.

    The temp name is unique (mkstemp), so two writers of the same file at once each rename a whole
    file of their own (the last one wins) instead of one renaming the other's half-written temp or
    finding it gone: ``enroll-local`` beside a serving HQ's enrollment hit exactly that with one
    fixed ``NAME.tmp``. A read-modify-write of the same file still needs its own lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret with mode 0600, atomically and durably."""
    _replace_with(path, data, 0o600)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all, durably (mode 0644)."""
    _replace_with(path, data, 0o644)


@dataclass(frozen=True)
class HqDir:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "election.toml"

    @property
    def roll_key(self) -> Path:
        return self.root / "keys" / "roll_signing.key"

    @property
    def roll_pub(self) -> Path:
        return self.root / "keys" / "roll_signing.pub"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def roll_db(self) -> Path:
        return self.root / "roll.db"

    @property
    def hq_db(self) -> Path:
        return self.root / "hq.db"

    @property
    def rolls(self) -> Path:
        return self.root / "rolls"

    def config(self) -> ElectionConfig:
        return load_config(self.config_path)

    @contextmanager
    def registry_lock(self) -> Iterator[None]:
        """One writer of terminals.json at a time across processes (enrollment by card, hq
        enroll-local, hq revoke): an flock on a lock file beside it."""
        with open(self.root / "terminals.json.lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def require(self) -> "HqDir":
        if not self.config_path.exists() or not self.roll_key.exists():
            raise UsageError(f"HQ ディレクトリではありません（先に meibo hq init を実行してください）: {self.root}",
                             code="not_hq_dir")
        return self


@dataclass(frozen=True)
class TerminalIdentity:
    terminal_id: TerminalId
    station_id: StationId
    election_id: str
    hq_address: str


@dataclass(frozen=True)
class TerminalDir:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "election.toml"

    @property
    def identity_path(self) -> Path:
        return self.root / "terminal.toml"

    @property
    def device_key(self) -> Path:
        return self.root / "keys" / "device.key"

    @property
    def device_pub(self) -> Path:
        return self.root / "keys" / "device.pub"

    @property
    def hq_roll_pub(self) -> Path:
        return self.root / "keys" / "hq_roll.pub"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def store_path(self) -> Path:
        return self.root / "store.db"

    def config(self) -> ElectionConfig:
        return load_config(self.config_path)

    def identity(self) -> TerminalIdentity:
        try:
            d = tomllib.loads(self.identity_path.read_text("utf-8"))["terminal"]
            return TerminalIdentity(TerminalId(d["id"]), StationId(d["station"]), d["election"], d["hq_address"])
        except FileNotFoundError:
            raise UsageError(f"登録済みの端末ディレクトリではありません: {self.root}", code="not_enrolled")
        except (KeyError, TypeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ApplianceError(f"terminal.toml が壊れています: {e}", code="identity_corrupt")

    def write_identity(self, ident: TerminalIdentity) -> None:
        text = (
            "[terminal]\n"
            f'id = "{ident.terminal_id}"\n'
            f'station = "{ident.station_id}"\n'
            f'election = "{ident.election_id}"\n'
            f'hq_address = "{ident.hq_address}"\n'
        )
        write_atomic(self.identity_path, text.encode("utf-8"))
