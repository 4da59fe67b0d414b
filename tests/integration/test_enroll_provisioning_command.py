"""``meibo hq provisioning``: refuses public / unspecified / undeclared-loopback addresses before
listening, and on loopback with --dev-loopback serves the enrollment endpoint (server auth only,
TLS 1.3) until SIGTERM, then says how many terminals it enrolled."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from ground.clock import FixedClock
from hq.terminals import hq_init
from tests.builders import EARLY_NOON, election_toml

MEIBO = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def hqdir(tmp_path: Path) -> Path:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq_init(tmp_path / "hq", cfg, FixedClock(EARLY_NOON))
    return tmp_path / "hq"


@pytest.mark.parametrize("listen,code", [
    ("8.8.8.8:8444", "public_address_refused"),
    ("0.0.0.0:8444", "bind_unspecified"),
    ("127.0.0.1:8444", "loopback_needs_dev_flag"),
    ("hq.example:8444", "bind_not_ip"),
])
def test_bind_rules_are_those_of_the_sync_endpoint(hqdir: Path, listen: str, code: str) -> None:
    p = subprocess.run([*MEIBO, "hq", "provisioning", str(hqdir), "--listen", listen, "--json"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and json.loads(p.stdout)["code"] == code


def test_serves_tls13_without_asking_a_client_certificate_until_stopped(hqdir: Path) -> None:
    p = subprocess.Popen([*MEIBO, "hq", "provisioning", str(hqdir), "--listen", "127.0.0.1:0", "--dev-loopback",
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        first = json.loads(p.stdout.readline())
        assert first["code"] == "listening" and first["election"] == "yokohama-2027"
        host, port = first["address"].rsplit(":", 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=str(hqdir / "pki" / "ca.pem"))
        import socket
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="hq.yokohama-2027.meibo") as tls:
                assert tls.version() == "TLSv1.3"
                tls.sendall(b"GET /enroll/v1/ca HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n")
                body = b""
                while chunk := tls.recv(65536):
                    body += chunk
        assert b"BEGIN CERTIFICATE" in body and b"meibo-enroll/1" in body
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"code": "stopped", "enrolled": []}
