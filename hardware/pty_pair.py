"""A real pseudo-terminal pair for the device simulators, behind a stable path.

Owns: opening/closing a pty pair, raw mode, and a symlink (like udev's /dev/serial/by-id) that
points at the current slave, so that a driver keeps opening one path across a simulated unplug
and replug. The simulator side reads and writes the master fd; the real driver opens the slave
path with pyserial. Never imports a driver or a simulator.

Quirk: Linux returns EIO on the master when no slave fd is open, which would spin an event loop
reader while the driver reconnects. So the pair keeps one slave fd of its own open for its
lifetime; that fd never reads, so it steals no bytes from the driver.
"""

from __future__ import annotations

import os
import pty
import tty
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PtyPair:
    master_fd: int
    slave_fd: int
    slave_name: str  # /dev/pts/N
    link: Path | None = None  # stable path that points at slave_name
    closed: bool = field(default=False)

    @classmethod
    def open(cls, link: Path | None = None) -> "PtyPair":
        master, slave = pty.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        os.set_blocking(master, False)
        pair = cls(master, slave, os.ttyname(slave), link)
        if link is not None:
            _point(link, pair.slave_name)
        return pair

    @property
    def path(self) -> str:
        """The path a driver opens: the stable link when there is one."""
        return str(self.link) if self.link is not None else self.slave_name

    def close(self, *, keep_link: bool = False) -> None:
        """Close both ends (the driver sees a hang-up). The link is removed unless kept."""
        if self.closed:
            return
        self.closed = True
        for fd in (self.master_fd, self.slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None and not keep_link:
            try:
                self.link.unlink()
            except FileNotFoundError:
                pass


def _point(link: Path, target: str) -> None:
    """Re-point ``link`` at ``target`` atomically (a driver never sees a missing link mid-swap)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + ".new")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)
