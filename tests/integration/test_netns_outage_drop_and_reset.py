"""nftables outages between namespaces: a drop black-holes and heals; a reset refuses at once."""

from __future__ import annotations

import sys
import time

import pytest

from tests.integration.netns_harness import HQ_ADDR, LineClient, NetnsLink, require_netns, wait_ready

pytestmark = pytest.mark.netns


def test_drop_outage_stalls_then_the_same_connection_recovers() -> None:
    require_netns()
    with NetnsLink() as link:
        wait_ready(link.python("hq", "echo", HQ_ADDR, "7001"))
        proc = link.python("term", "client", HQ_ADDR, "7001")
        wait_ready(proc)
        c = LineClient(proc)
        assert c.ask("connect 5")["ok"]
        assert c.ask("ping 2")["ok"]
        link.outage(reset=False)
        stalled = c.ask("ping 0.8")
        assert stalled == {**stalled, "ok": False, "error": "timeout"}
        link.restore()
        # TCP retransmits the held bytes after its backoff; the same connection carries on
        healed = c.ask("ping 10")
        assert healed["ok"], healed
        assert c.ask("ping 5")["ok"]


def test_reset_outage_refuses_new_connections_then_recovers() -> None:
    require_netns()
    with NetnsLink() as link:
        wait_ready(link.python("hq", "echo", HQ_ADDR, "7001"))
        proc = link.python("term", "client", HQ_ADDR, "7001")
        wait_ready(proc)
        c = LineClient(proc)
        link.outage(reset=True)
        refused = c.ask("connect 2")
        assert not refused["ok"] and refused["error"] != "timeout", refused
        assert refused["seconds"] < 1.0
        link.restore()
        assert c.ask("connect 5")["ok"]
        assert c.ask("ping 5")["ok"]


def test_fault_proxy_runs_inside_a_namespace() -> None:
    """The real-socket LTE emulator in front of HQ, inside HQ's namespace: RTT plus tbf."""
    require_netns()
    with NetnsLink() as link:
        wait_ready(link.python("hq", "echo", "127.0.0.1", "7001"))
        link.popen("hq", [sys.executable, "-m", "cli.link", "--listen",
                          f"{HQ_ADDR}:7000", "--upstream", "127.0.0.1:7001", "--profile", "good"])
        proc = link.python("term", "client", HQ_ADDR, "7000")
        wait_ready(proc)
        c = LineClient(proc)
        for _ in range(50):
            if c.ask("connect 2")["ok"]:
                break
            time.sleep(0.1)
        assert c.ask("ping 5")["ok"]
        rtts = sorted(c.ask("ping 5")["seconds"] for _ in range(9))
        assert 0.040 <= rtts[4] <= 0.090, rtts
