"""Network-namespace harness: an HQ side and a terminal side joined by a veth pair.

The kernel here has no netem, so this harness shapes with what it has: ``tc qdisc ... tbf`` for
rate limits (terminal egress = uplink, HQ egress = downlink) and nftables rules inside the
terminal's namespace for outages (drop = black hole, reject = connection reset/refused). For RTT
and jitter, run ``FaultProxy`` inside a namespace (10.99.0.0/16 is allowed) in front of HQ.

Only addresses inside the namespaces it creates are used (10.99.0.1 HQ, 10.99.0.2 terminal); the
host's network is never touched. Namespaces are removed in ``close()`` even when a test fails.
Needs root and a working ``ip netns``; ``require_netns()`` skips with the reason otherwise.

Also a tiny line-driven TCP client and an echo server, run inside the namespaces:
``python -m tests.integration.netns_harness echo HOST PORT`` and ``... client HOST PORT``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

ROOT = Path(__file__).resolve().parents[2]
HQ_ADDR = "10.99.0.1"
TERM_ADDR = "10.99.0.2"
Side = Literal["hq", "term"]
SIDES: tuple[Side, Side] = ("hq", "term")
_counter = itertools.count()


class NetnsUnavailable(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def netns_unavailable_reason() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "network-namespace harness needs root (run as root, or rely on the FaultProxy tests)"
    for tool in ("ip", "tc", "nft"):
        if shutil.which(tool) is None:
            return f"network-namespace harness needs `{tool}` (apt-get install iproute2 nftables)"
    name = f"meibo-probe-{os.getpid()}-{next(_counter)}"
    try:
        r = _ip("netns", "add", name, check=False)
        if r.returncode != 0:
            return f"`ip netns add` failed: {r.stderr.strip()}"
    finally:
        _ip("netns", "del", name, check=False)
    return None


def require_netns() -> None:
    """Skip the calling test with a clear message when namespaces cannot be used."""
    import pytest

    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)


class NetnsLink:
    """Two namespaces, ``hq`` and ``term``, joined by veth; tbf rates; nftables outages.

    ``up_rate``/``down_rate`` are tc rates ("5mbit", "1mbit"), None for no shaping.
    """

    def __init__(self, *, up_rate: str | None = "5mbit", down_rate: str | None = "10mbit") -> None:
        tag = f"{os.getpid()}-{next(_counter)}"
        self.ns: dict[Side, str] = {"hq": f"meibo-hq-{tag}", "term": f"meibo-term-{tag}"}
        self.dev: dict[Side, str] = {"hq": "veth-hq", "term": "veth-term"}
        self.addr: dict[Side, str] = {"hq": HQ_ADDR, "term": TERM_ADDR}
        self.up_rate = up_rate
        self.down_rate = down_rate
        self._procs: list[subprocess.Popen[Any]] = []
        self._created: list[str] = []

    # -- lifecycle --

    def open(self) -> NetnsLink:
        try:
            for side in SIDES:
                _ip("netns", "add", self.ns[side])
                self._created.append(self.ns[side])
            _ip("link", "add", self.dev["hq"], "netns", self.ns["hq"], "type", "veth",
                "peer", "name", self.dev["term"], "netns", self.ns["term"])
            for side in SIDES:
                _ip("-n", self.ns[side], "addr", "add", f"{self.addr[side]}/30", "dev", self.dev[side])
                _ip("-n", self.ns[side], "link", "set", self.dev[side], "up")
                _ip("-n", self.ns[side], "link", "set", "lo", "up")
            if self.up_rate:
                self.set_rate("term", self.up_rate)
            if self.down_rate:
                self.set_rate("hq", self.down_rate)
            self._nft("term", "add table inet meibo_link")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            err = getattr(e, "stderr", "") or str(e)
            self.close()
            raise NetnsUnavailable(f"could not build the namespace pair: {err.strip()}") from e
        return self

    def close(self) -> None:
        """Kill our processes and delete our namespaces (the veth pair goes with them)."""
        for p in self._procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        for name in reversed(self._created):
            _ip("netns", "del", name, check=False)
        self._created.clear()

    def __enter__(self) -> NetnsLink:
        return self.open()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- shaping and faults --

    def exec_argv(self, side: Side, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns[side], *argv]

    def set_rate(self, side: Side, rate: str) -> None:
        """Egress rate of ``side`` with tbf (term = uplink, hq = downlink)."""
        subprocess.run(self.exec_argv(side, ["tc", "qdisc", "replace", "dev", self.dev[side], "root",
                                             "tbf", "rate", rate, "burst", "16kb", "latency", "400ms"]),
                       check=True, capture_output=True, text=True, timeout=20)

    def _nft(self, side: Side, cmd: str) -> None:
        subprocess.run(self.exec_argv(side, ["nft", cmd]), check=True, capture_output=True,
                       text=True, timeout=20)

    def outage(self, reset: bool = False) -> None:
        """Cut the link at the terminal. ``reset``: TCP resets (refused/cut at once); else drop."""
        self._nft("term", "flush table inet meibo_link")
        if reset:
            self._nft("term", "add chain inet meibo_link out { type filter hook output priority 0 ; }")
            self._nft("term", f"add rule inet meibo_link out ip daddr {HQ_ADDR} meta l4proto tcp "
                              "reject with tcp reset")
            self._nft("term", f"add rule inet meibo_link out ip daddr {HQ_ADDR} drop")
        else:
            for chain, hook, match in (("out", "output", "daddr"), ("in", "input", "saddr")):
                self._nft("term", f"add chain inet meibo_link {chain} "
                                  f"{{ type filter hook {hook} priority 0 ; }}")
                self._nft("term", f"add rule inet meibo_link {chain} ip {match} {HQ_ADDR} drop")

    def restore(self) -> None:
        self._nft("term", "flush table inet meibo_link")

    # -- processes --

    def popen(self, side: Side, argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``side``'s namespace; killed at ``close()``."""
        kw.setdefault("cwd", ROOT)
        p = subprocess.Popen(self.exec_argv(side, argv), **kw)
        self._procs.append(p)
        return p

    def python(self, side: Side, *args: str, **kw: Any) -> subprocess.Popen[str]:
        """Run ``python -m tests.integration.netns_harness ARGS`` (line I/O) inside ``side``."""
        return self.popen(side, [sys.executable, "-m", "tests.integration.netns_harness", *args],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, bufsize=1, **kw)


class LineClient:
    """Drives ``netns_harness client``: one JSON answer per command line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def ask(self, line: str) -> dict[str, Any]:
        stdin: IO[str] | None = self.proc.stdin
        stdout: IO[str] | None = self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(line + "\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError(f"client exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
        result: dict[str, Any] = json.loads(answer)
        return result


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"not ready: {line!r} {err}")


# --- programs run inside the namespaces -------------------------------------------------------


def _echo(host: str, port: int) -> None:
    import threading

    srv = socket.create_server((host, port))

    def handle(c: socket.socket) -> None:
        with c:
            try:
                while data := c.recv(65536):
                    c.sendall(data)
            except OSError:
                pass

    print("ready", flush=True)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def _client(host: str, port: int) -> None:
    """Commands: ``connect T``, ``ping T``, ``bulk N T`` (echo N bytes), ``close``."""
    sock: socket.socket | None = None
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, *rest = line.split()
        t0 = time.monotonic()
        try:
            if cmd == "connect":
                if sock is not None:
                    sock.close()
                sock = socket.create_connection((host, port), timeout=float(rest[0]))
                out: dict[str, Any] = {"ok": True}
            elif cmd in ("ping", "bulk"):
                assert sock is not None
                n = 16 if cmd == "ping" else int(rest[0])
                sock.settimeout(float(rest[-1]))
                sock.sendall(b"p" * n)
                got = 0
                while got < n:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    got += len(chunk)
                out = {"ok": True, "bytes": got}
            elif cmd == "close":
                if sock is not None:
                    sock.close()
                sock = None
                out = {"ok": True}
            else:
                out = {"ok": False, "error": "unknown"}
        except socket.timeout:
            out = {"ok": False, "error": "timeout"}
        except OSError as e:
            out = {"ok": False, "error": type(e).__name__}
        out["seconds"] = time.monotonic() - t0
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"echo": _echo, "client": _client}[mode](host, port)
