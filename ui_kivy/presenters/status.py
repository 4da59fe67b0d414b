"""The status bar: HQ link and the HQ node (本部ノード) it is on, LTE signal and carrier, last sync,
events not yet acknowledged, clock."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from ui_kivy.presenters.format import bars_text
from ui_kivy.service import LinkStatus, RadioInfo


@dataclass(frozen=True)
class StatusState:
    link_ok: bool
    link_text: str
    signal_text: str
    last_sync_text: str
    pending_text: str
    pending_warn: bool
    clock_text: str
    scanner_text: str = ""
    node_text: str = ""  # 「本部: hq-b」: which HQ node the terminal is on (or dials next)


def node_label(address: str) -> str:
    """How an HQ node is named to the poll worker, compactly: the node's name (the first label of
    its host name: hq-b.meibo.lg.jp → hq-b), or the whole address when the host is an IP literal
    (two nodes may then differ by port only)."""
    if address.count(":") > 1 and not address.startswith("["):
        return address  # an IPv6 literal without a port
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        host = address
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.split(".", 1)[0] or host
    return address


def status_state(link: LinkStatus, radios: list[RadioInfo] | None, now: datetime,
                 scanner_connected: bool | None = None) -> StatusState:
    if link.refused:
        link_text, ok = "× 本部: 接続拒否", False
    elif link.online:
        link_text, ok = "● 本部: 接続中", True
    else:
        link_text, ok = "× 本部: 未接続（オフライン）", False
    if radios is None:
        signal = "LTE: 不明"
    elif not radios:
        signal = "LTE: モデムなし"
    else:
        r = radios[0]
        signal = (f"LTE {bars_text(r.bars)} {r.carrier or '事業者不明'}" if r.registered
                  else f"LTE {bars_text(0)} 圏外")
        if r.closed_apn_ok is False:
            signal += " ！閉域APN外"
    last = link.last_sync
    last_text = f"最終同期 {last:%H:%M:%S}" if last is not None else "最終同期 なし"
    scanner = ("" if scanner_connected is None else
               "スキャナ 接続" if scanner_connected else "× スキャナ 未接続")
    return StatusState(ok, link_text, signal, last_text, f"未送信 {link.pending} 件", link.pending > 0,
                       f"{now.month}/{now.day} {now:%H:%M}", scanner,
                       f"本部: {node_label(link.hq)}" if link.hq else "")
