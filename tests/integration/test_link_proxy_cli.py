"""``meibo link-proxy`` as a real process: listens, forwards, stops on SIGTERM, reports bytes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    srv = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv, t


def _run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cli.link", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "error"})


def test_cli_forwards_and_reports_bytes_on_sigterm() -> None:
    srv, thread = _echo_server()
    port = srv.getsockname()[1]
    p = _run("--upstream", f"127.0.0.1:{port}", "--profile", "good", "--seed", "3", "--json",
             "--schedule", "03:00-03:01 blackout")
    try:
        assert p.stderr is not None
        line = p.stderr.readline()
        m = re.search(r"待受中 127\.0\.0\.1:(\d+)", line)
        assert m, line
        with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=5) as c:
            c.sendall(b"hello meibo")
            got = b""
            while len(got) < 11:
                got += c.recv(100)
        assert got == b"hello meibo"
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        srv.close()
    assert p.returncode == 0, err
    data = json.loads(out)
    assert data["code"] == "ok"
    assert data["stats"]["up"]["bytes_out"] == 11
    assert data["stats"]["down"]["bytes_out"] == 11


def test_cli_rejects_bad_schedule_in_japanese() -> None:
    p = _run("--upstream", "127.0.0.1:9", "--schedule", "11:30-10:00 down")
    out, err = p.communicate(timeout=20)
    assert p.returncode != 0
    assert "終了が開始より後" in err and "--schedule" in err


def test_cli_refuses_a_public_upstream() -> None:
    p = _run("--upstream", "203.0.113.5:443", "--duration", "1")
    out, err = p.communicate(timeout=20)
    assert p.returncode != 0
    assert "使えません" in err
