"""The status bar names the HQ node the terminal is on (本部ノード, issue 18): 「本部: hq-b」 for
a host name (its first label), the whole address for an IP literal (two nodes on one machine differ by port), and
the name changes when the agent moves to another node."""

from __future__ import annotations

from datetime import datetime

from tests.builders import jst
from ui_kivy.presenters.status import node_label, status_state
from ui_kivy.service import LinkStatus


NOW: datetime = jst(2027, 4, 20, 12, 0)


def test_the_node_is_named_by_host_name_or_by_address_when_the_host_is_an_ip() -> None:
    assert node_label("hq-b.meibo.lg.jp:8443") == "hq-b"  # the node's name, not the whole domain
    assert node_label("hq-b.meibo.lg.jp") == "hq-b"
    assert node_label("hq-a:8443") == "hq-a"
    assert node_label("10.1.2.3:8443") == "10.1.2.3:8443"
    assert node_label("[fd00::2]:8443") == "[fd00::2]:8443"
    assert node_label("hq-a") == "hq-a"
    assert node_label("[2001:db8::10]:8443") == "[2001:db8::10]:8443"
    assert node_label("2001:db8::10") == "2001:db8::10"
    assert node_label("10.1.2.3") == "10.1.2.3"


def test_status_bar_shows_the_node_and_its_change_online_and_offline() -> None:
    on_a = status_state(LinkStatus(True, 0, NOW, None, "hq-a:8443"), None, NOW)
    assert on_a.node_text == "本部: hq-a" and on_a.link_text == "● 本部: 接続中"
    dialing_b = status_state(LinkStatus(False, 2, NOW, None, "hq-b:8443"), None, NOW)
    assert dialing_b.node_text == "本部: hq-b" and not dialing_b.link_ok  # the node it dials next
    on_b = status_state(LinkStatus(True, 0, NOW, None, "hq-b:8443"), None, NOW)
    assert on_b.node_text != on_a.node_text and on_b.link_ok
    assert status_state(LinkStatus(False, 0, None, None, ""), None, NOW).node_text == ""  # no agent yet
