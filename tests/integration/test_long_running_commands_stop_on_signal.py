"""Long-running meibo commands leave promptly and cleanly on SIGINT and SIGTERM, also when their
parent started them with the signal ignored (``cmd &`` in a script, nohup, a CI runner): Python
then installs no KeyboardInterrupt handler of its own, and a virtual card used to stay in its
reader forever, breaking every card test after it.

The virtual card is tested against a stand-in vpcd that accepts the card and then says nothing,
so the card's thread is blocked in a socket read when the signal comes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.sync_env import make_env

ROOT = Path(__file__).resolve().parents[2]
MEIBO = [sys.executable, "-m", "cli.main"]
SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]
PARENTS = [pytest.param(False, id="parent-default"), pytest.param(True, id="parent-ignored-signals")]


def _ignoring_signals() -> Callable[[], None]:
    def pre() -> None:  # in the child before exec: what `cmd &` or nohup hands a process
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return pre


def _popen(argv: list[str], ignored: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ignoring_signals() if ignored else None)


@pytest.mark.parametrize("ignored", PARENTS)
@pytest.mark.parametrize("sig", SIGNALS)
def test_virtual_card_blocked_in_a_read_leaves_the_reader_on_signal(tmp_path: Path, sig: int,
                                                                    ignored: bool) -> None:
    vpcd = socket.create_server(("127.0.0.1", 0))
    vpcd.settimeout(30)
    port = vpcd.getsockname()[1]
    state = tmp_path / "card.json"
    p = _popen([*MEIBO, "provision", "virtual-card", "--vpcd-port", str(port), "--state", str(state),
                "--json"], ignored)
    try:
        conn, _ = vpcd.accept()  # the card is in the reader; its thread now waits for a command
        with conn:
            conn.settimeout(30)
            assert p.stdout is not None
            assert "仮想カード" in p.stdout.readline()  # printed after the card state was loaded
            p.send_signal(sig)
            out, err = p.communicate(timeout=10)
            assert conn.recv(1) == b"", "the card was not pulled out of the reader"
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
        vpcd.close()
    assert p.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["code"] == "stopped"
    assert state.exists()


@pytest.mark.parametrize("ignored", PARENTS)
@pytest.mark.parametrize("sig", SIGNALS)
def test_hq_serve_stops_and_closes_its_port_on_signal(tmp_path: Path, sig: int, ignored: bool) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    p = _popen([*MEIBO, "hq", "serve", str(env.hq.root), "--dev-loopback"], ignored)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert "待受" in line, line
        p.send_signal(sig)
        _, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", env.port), timeout=2).close()


@pytest.mark.parametrize("ignored", PARENTS)
def test_link_proxy_stops_on_sigterm_even_if_started_ignoring_it(ignored: bool) -> None:
    up = socket.create_server(("127.0.0.1", 0))
    try:
        p = subprocess.Popen([sys.executable, "-m", "cli.link", "--upstream",
                              f"127.0.0.1:{up.getsockname()[1]}", "--profile", "good", "--seed", "1"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_ignoring_signals() if ignored else None,
                             env={**os.environ, "PYTHONWARNINGS": "error"})
        try:
            assert p.stderr is not None
            assert "待受中" in p.stderr.readline()
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        assert p.returncode == 0
    finally:
        up.close()


@pytest.mark.parametrize("ignored", PARENTS)
@pytest.mark.parametrize("sig", SIGNALS)
def test_terminal_sync_agent_stops_on_signal(tmp_path: Path, sig: int,
                                                                    ignored: bool) -> None:
    env = make_env(tmp_path, {"T01": "E01"})  # no HQ serving: the agent is offline, backing off
    tdir = env.terminals["T01"]
    p = _popen([*MEIBO, "terminal", "run", str(tdir.root)], ignored)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert "同期エージェント稼働中" in line, line
        assert (tdir.root / "agent.sock").exists()  # it serves the kiosk's IPC
        p.send_signal(sig)
        _, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
