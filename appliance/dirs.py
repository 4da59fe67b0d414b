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

import fcntl
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ground.config import load_config
from ground.errors import ApplianceError, UsageError
from ground.model import ElectionConfig, StationId, TerminalId


def write_private(path: Path, data: bytes) -> None:
    """Write a secret with mode 0600, atomically (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
