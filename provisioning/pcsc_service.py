"""A private pcscd with the vsmartcard-vpcd virtual reader, for the demo and the tests.

Owns: starting ``pcscd --foreground`` in a private mount namespace (``unshare --mount``;
``--user --map-root-user`` when not root) with /run/pcscd bound to a directory of ours and its
own reader.conf.d naming vpcd on a free port pair (slot 0 = port, slot 1 = port + 1), waiting
until the vpcd reader shows, and stopping it. So it never meets a system pcscd nor another run,
and Debian's /etc/reader.conf.d/vpcd is not touched. Must never import sync_protocol or pytest.

pcscd always binds /run/pcscd/pcscd.comm inside its namespace; clients outside find it through
``PCSCLITE_CSOCK_NAME``, which libpcsclite reads ONCE per process at the first PC/SC call. So
``start_pcscd`` sets it when unset (the caller must not have made a PC/SC call before) and
refuses when it already names another socket. Child processes inherit it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

READER_SLOT0 = "Virtual PCD 00 00"
READER_SLOT1 = "Virtual PCD 00 01"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")


class PcscUnavailable(Exception):
    """pcscd / vpcd cannot be started here; the message says why (English, for logs and skips)."""


@dataclass(frozen=True)
class PcscdSettings:
    start_timeout_s: float = 10.0
    poll_s: float = 0.1
    stop_timeout_s: float = 5.0


@dataclass
class PcscdService:
    process: subprocess.Popen[bytes]
    vpcd_port: int  # slot 0; slot 1 listens on vpcd_port + 1
    log: Path
    run_dir: Path
    readers: list[str] = field(default_factory=list)

    @property
    def socket_path(self) -> Path:
        return socket_path(self.run_dir)

    def reader_name(self, slot: int = 0) -> str:
        return READER_SLOT0 if slot == 0 else READER_SLOT1

    def port(self, slot: int = 0) -> int:
        return self.vpcd_port + slot

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


def socket_path(run_dir: Path) -> Path:
    return run_dir / "run" / "pcscd.comm"


def free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("0.0.0.0", 0))
            p = int(a.getsockname()[1])
            if p >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("0.0.0.0", p + 1))
                except OSError:
                    continue
            return p
    raise PcscUnavailable("no free port pair for vpcd")


def start_pcscd(run_dir: Path, settings: PcscdSettings | None = None, *,
                fresh_process: bool = False) -> PcscdService:
    """Start a private pcscd with vpcd; raise ``PcscUnavailable`` saying why when it cannot.

    ``fresh_process``: this process has made no PC/SC call yet, so an inherited
    ``PCSCLITE_CSOCK_NAME`` (another pcscd's) may be replaced instead of refused."""
    settings = settings or PcscdSettings()
    pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
    unshare = shutil.which("unshare")
    if pcscd is None:
        raise PcscUnavailable("pcscd is not installed (apt-get install pcscd)")
    if not VPCD_DRIVER.exists():
        raise PcscUnavailable("the vpcd driver is not installed (apt-get install vsmartcard-vpcd)")
    if unshare is None:
        raise PcscUnavailable("unshare (util-linux) is missing: cannot give pcscd a private /run/pcscd")
    try:
        from hardware.cardreader.pcsc import PcscCardReader  # lazy: pyscard is optional, its absence is said below
        import smartcard.scard  # noqa: F401
    except ImportError:
        raise PcscUnavailable("pyscard is not installed (.venv/bin/pip install pyscard)") from None
    sock = socket_path(run_dir)
    current = os.environ.get("PCSCLITE_CSOCK_NAME")
    if current is None or fresh_process:
        os.environ["PCSCLITE_CSOCK_NAME"] = str(sock)
    elif current != str(sock):
        raise PcscUnavailable(f"PCSCLITE_CSOCK_NAME already names another pcscd socket ({current})")
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "run").mkdir(parents=True)
    conf = run_dir / "reader.conf.d"
    conf.mkdir()
    port = free_port_pair()
    (conf / "vpcd").write_text(
        'FRIENDLYNAME "Virtual PCD"\n'
        f"DEVICENAME   /dev/null:0x{port:04X}\n"
        f"LIBPATH      {VPCD_DRIVER}\n"
        f"CHANNELID    0x{port:04X}\n")
    log = run_dir / "pcscd.log"
    inner = (f"mkdir -p /run/pcscd && mount --bind {run_dir / 'run'} /run/pcscd && "
             f"exec {pcscd} --foreground --info -c {conf}")
    ns = ["--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        ns = ["--user", "--map-root-user"] + ns
    with open(log, "wb") as out:
        proc = subprocess.Popen([unshare, *ns, "sh", "-c", inner], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    svc = PcscdService(proc, port, log, run_dir)
    deadline = time.monotonic() + settings.start_timeout_s
    reader = PcscCardReader()
    last = ""
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise PcscUnavailable(f"pcscd exited with {proc.returncode}:\n{svc.log_tail()}")
            if sock.exists():
                try:
                    names = reader.readers()
                    if READER_SLOT0 in names:
                        svc.readers = names
                        return svc
                    last = f"readers so far: {names}"
                except Exception as e:  # still starting
                    last = str(e)
            time.sleep(settings.poll_s)
        raise PcscUnavailable(f"pcscd did not show the vpcd reader within {settings.start_timeout_s}s ({last}):\n"
                              f"{svc.log_tail()}")
    except BaseException:
        stop_pcscd(svc, settings)
        raise
    finally:
        reader.close()


def stop_pcscd(svc: PcscdService, settings: PcscdSettings | None = None) -> None:
    settings = settings or PcscdSettings()
    p = svc.process
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=settings.stop_timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=settings.stop_timeout_s)
