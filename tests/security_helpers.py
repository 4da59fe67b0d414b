"""Helpers for the at-rest, wipe and compliance tests: the ``meibo`` CLI with the security
commands registered, and a fake /proc root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import main as cli

def meibo(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``meibo ARGS --json`` in-process; (exit status, the JSON object printed)."""
    capsys.readouterr()
    rc = cli.main([*args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return rc, json.loads(out[-1])


ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")


def fake_proc(root: Path, *, default_route: bool = False, listen: list[str] = (),  # type: ignore[assignment]
              public_v4: str | None = None) -> Path:
    """A /proc with net/ files: a closed-network LTE link (10.20.0.0/16 via wwan0), loopback.
    ``listen`` entries are "tcp ADDRHEX:PORTHEX" lines of /proc/net/tcp."""
    net = root / "net"
    net.mkdir(parents=True, exist_ok=True)
    routes = ROUTE_HEADER + "wwan0\t0000140A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    if default_route:
        routes += "wwan0\t00000000\t0100140A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    (net / "route").write_text(routes)
    # kernel's own unreachable default on lo (RTF_REJECT) must not count as a default route
    (net / "ipv6_route").write_text(
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n")
    local = ["127.0.0.1", "10.20.0.5"] + ([public_v4] if public_v4 else [])
    trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n" + "".join(f"     |-- {a}\n        /32 host LOCAL\n" for a in local)
    (net / "fib_trie").write_text(trie)
    (net / "if_inet6").write_text("00000000000000000000000000000001 01 80 10 80       lo\n")
    tcp = TCP_HEADER
    tcp += "   0: 0100007F:E179 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
    tcp += "   1: 0500140A:D431 0100140A:20FB 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
    for i, line in enumerate(listen, start=2):
        tcp += f"   {i}: {line} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1\n"
    (net / "tcp").write_text(tcp)
    for name in ("tcp6", "udp", "udp6"):
        (net / name).write_text(TCP_HEADER)
    return root
