"""election.toml's ``[hq] addresses`` and the agent's ring of HQ nodes (issue 18): the list is read
with every problem named by file and key and a code of its own, one ``address`` stays valid, and
the agent dials the nodes in order, each with its own back-off (with one node exactly the old one)."""

from __future__ import annotations

import random

import pytest

from ground.config import parse_config
from ground.errors import ConfigInvalid, MeiboError
from sync_protocol.client import SyncSettings
from sync_protocol.hq_nodes import HqNodes
from tests.builders import election_toml

ONE = 'address = "127.0.0.1:8443"'


def _config(hq_lines: str):
    text = election_toml(hq_address="127.0.0.1:8443")
    assert ONE in text
    return parse_config(text.replace(ONE, hq_lines).encode("utf-8"), "/elections/election.toml")


def _problems(hq_lines: str) -> list[tuple[str | None, str, str]]:
    with pytest.raises(ConfigInvalid) as ei:
        _config(hq_lines)
    assert "/elections/election.toml" in ei.value.message
    return [(p.column, p.code, p.message) for p in ei.value.problems]


def test_one_address_is_one_node():
    cfg = _config(ONE)
    assert cfg.hq_address == "127.0.0.1:8443" and cfg.hq_nodes == ("127.0.0.1:8443",)


def test_addresses_keep_their_order_and_the_first_names_hq():
    cfg = _config('addresses = ["10.1.0.2:8443", "[fd00::7]:8443"]')
    assert cfg.hq_nodes == ("10.1.0.2:8443", "[fd00::7]:8443")
    assert cfg.hq_address == "10.1.0.2:8443"


def test_address_beside_addresses_must_be_one_of_them():
    cfg = _config('address = "10.1.0.3:8443"\naddresses = ["10.1.0.2:8443", "10.1.0.3:8443"]')
    assert cfg.hq_address == "10.1.0.3:8443" and cfg.hq_nodes == ("10.1.0.2:8443", "10.1.0.3:8443")
    [(key, code, message)] = _problems('address = "10.1.0.9:8443"\naddresses = ["10.1.0.2:8443", "10.1.0.3:8443"]')
    assert (key, code) == ("hq.address", "hq_address_not_listed") and "10.1.0.9:8443" in message


def test_empty_list():
    assert [(k, c) for k, c, _ in _problems("addresses = []")] == [("hq.addresses", "hq_addresses_empty")]


def test_duplicates_named_at_the_repeat():
    [(key, code, message)] = _problems('addresses = ["10.1.0.2:8443", "10.1.0.3:8443", "10.1.0.2:8443"]')
    assert (key, code) == ("hq.addresses[2]", "hq_address_duplicate") and "重複" in message


def test_every_malformed_entry_at_once():
    found = _problems('addresses = ["10.1.0.2", 8443, "10.1.0.3:70000", "ok.example:8443", ""]')
    assert [(k, c) for k, c, _ in found] == [("hq.addresses[0]", "hq_address_malformed"),
                                            ("hq.addresses[1]", "hq_address_malformed"),
                                            ("hq.addresses[2]", "hq_address_malformed"),
                                            ("hq.addresses[4]", "hq_address_malformed")]
    assert "host:port" in found[0][2] and "ポート番号" in found[2][2]


def test_not_a_list_and_a_bad_single_address():
    assert [(k, c) for k, c, _ in _problems('addresses = "10.1.0.2:8443"')] == [("hq.addresses", "hq_address_malformed")]
    assert [(k, c) for k, c, _ in _problems('address = "hq:0"')] == [("hq.address", "hq_address_malformed")]


def test_neither_key():
    assert [(k, c) for k, c, _ in _problems('store = "sqlite"')] == [("hq.address", "config_invalid")]


# --- the ring ----------------------------------------------------------------------------------

def _ring(*addresses: str) -> HqNodes:
    return HqNodes(addresses, initial_s=0.2, max_s=30.0, jitter=0.0)


def test_ring_dials_in_order_and_comes_round():
    r = _ring("a:1", "b:1", "c:1")
    seen = [r.current]
    for _ in range(4):
        r.lost("ConnectionRefusedError", 0.5)
        seen.append(r.current)
    assert seen == ["a:1", "b:1", "c:1", "a:1", "b:1"]


def test_each_node_has_its_own_backoff():
    r = _ring("a:1", "b:1")
    # a dies after leading: b is dialled after b's own (initial) back-off, not a's
    assert r.lost("closed", 0.5) == pytest.approx(0.2)
    assert r.current == "b:1"
    # b does not lead yet (hq_fenced): back to a, whose back-off doubled when it failed
    assert r.lost("hq_fenced", 0.5) == pytest.approx(0.4)
    assert r.lost("ConnectionRefusedError", 0.5) == pytest.approx(0.4)  # a refused connection: b, doubled once
    assert r.lost("hq_fenced", 0.5) == pytest.approx(0.8)  # a again: it has failed twice
    assert r.current == "a:1"
    r.reached()  # a answers at last (restarted): its back-off starts again, b's does not
    assert [n["failures"] for n in r.status()] == [0, 2] and r.status()[0]["current"]
    assert r.lost("closed", 0.5) == pytest.approx(0.8)  # to b, which has failed twice
    assert r.lost("closed", 0.5) == pytest.approx(0.4)  # to a: once since it answered
    assert r.status()[1]["last_error"] == "closed"


def test_backoff_is_capped_and_a_refusal_waits_the_maximum():
    r = _ring("a:1", "b:1")
    for _ in range(40):
        r.lost("x", 0.5)
    assert r.lost("x", 0.5) == pytest.approx(30.0)
    r2 = _ring("a:1", "b:1")
    assert r2.lost("terminal_revoked", 0.5, slow=True) == pytest.approx(30.0)
    assert r2.nodes[0].backoff_s == 30.0


def test_one_node_waits_like_the_single_address_agent():
    """The agent's old loop, written out: delay = backoff·(1 ± jitter), then backoff doubles (to the
    cap); a clean end resets it; a refusal sets it to the maximum."""
    s = SyncSettings()
    script = ["err", "err", "err", "clean", "err", "refused", "err", "clean", "err"] + ["err"] * 10
    ours, old = random.Random(7), random.Random(7)
    r = HqNodes(["hq:8443"], s.backoff_initial_s, s.backoff_max_s, s.backoff_jitter)
    backoff = s.backoff_initial_s
    for step in script:
        if step == "clean":
            backoff = s.backoff_initial_s
            r.reached()
        if step == "refused":
            backoff = s.backoff_initial_s  # the refused link ended cleanly first
            r.reached()
            backoff = s.backoff_max_s
        want = backoff * (1 + s.backoff_jitter * (2 * old.random() - 1))
        backoff = min(backoff * 2, s.backoff_max_s)
        assert r.lost(step, ours.random(), slow=step == "refused") == pytest.approx(want)
        assert r.current == "hq:8443"


def test_ring_refuses_no_nodes_and_duplicates():
    with pytest.raises(MeiboError) as ei:
        HqNodes([], 0.2, 30.0, 0.5)
    assert ei.value.code == "hq_addresses_empty"
    with pytest.raises(MeiboError) as ei:
        HqNodes(["a:1", "a:1"], 0.2, 30.0, 0.5)
    assert ei.value.code == "hq_address_duplicate"
