"""Building a directory so that a failure leaves nothing half-made (HQ's and a terminal's).

``Staging`` makes a temporary sibling of the target; ``commit()`` renames it into place and
fsyncs the parent, ``discard()`` removes it. ``fresh_dir`` refuses to build over anything that is
not missing or empty. Used by ``hq init``, ``hq enroll-local`` and the card enrollment client.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from appliance.dirs import write_atomic, write_private
from ground.errors import UsageError


def fresh_dir(target: Path) -> None:
    """Refuse to build over anything: only a missing or empty directory may become ours."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"ディレクトリが空ではありません（上書きしません）: {target}", code="dir_not_empty")


@dataclass
class Staging:
    """A temporary directory next to ``target``, renamed onto it by ``commit()``."""

    target: Path

    def __post_init__(self) -> None:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))

    def commit(self) -> None:
        if self.target.exists():
            self.target.rmdir()  # only an empty directory was allowed to exist
        os.replace(self.path, self.target)
        fd = os.open(self.target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def ed25519_keypair(key_path: Path, pub_path: Path) -> bytes:
    """A new Ed25519 key: the private half written owner-only, the public half beside it."""
    sk = SigningKey.generate()
    write_private(key_path, bytes(sk))
    pub = bytes(sk.verify_key)
    write_atomic(pub_path, pub)
    return pub
