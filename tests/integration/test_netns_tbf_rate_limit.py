"""HQ and terminal in their own namespaces: tbf on the veth limits the uplink and downlink."""

from __future__ import annotations

import pytest

from tests.integration.netns_harness import HQ_ADDR, LineClient, NetnsLink, require_netns, wait_ready

pytestmark = pytest.mark.netns


def test_uplink_rate_is_limited_by_tbf() -> None:
    require_netns()
    with NetnsLink(up_rate="2mbit", down_rate="20mbit") as link:
        wait_ready(link.python("hq", "echo", HQ_ADDR, "7001"))
        proc = link.python("term", "client", HQ_ADDR, "7001")
        wait_ready(proc)
        c = LineClient(proc)
        assert c.ask("connect 5")["ok"]
        fast = c.ask("ping 5")
        assert fast["ok"] and fast["seconds"] < 0.2
        slow = c.ask("bulk 250000 20")  # 2 Mbit through a 2 Mbit/s uplink: about 1 s
        assert slow["ok"], slow
        assert 0.8 <= slow["seconds"] <= 3.0, slow
        link.set_rate("term", "20mbit")
        quick = c.ask("bulk 250000 20")
        assert quick["ok"] and quick["seconds"] < slow["seconds"] / 2, (quick, slow)


def test_skips_with_a_clear_reason_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from tests.integration import netns_harness

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = netns_harness.netns_unavailable_reason()
    assert reason is not None and "root" in reason
