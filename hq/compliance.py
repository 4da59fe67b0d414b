"""特定通信 self-check (``meibo compliance``): the four conditions, with evidence, PASS/FAIL.

The seed allows LTE for 選挙人名簿対照 only when the link is a 特定通信 (docs/security.md):
① HQ requires client certificates from the election CA, its revocation list (CRL) is loaded,
  current, lists every revoked terminal, and is kept current (renewal on, CA key present, not
  overdue); the terminal holds an enrolled identity.
② The terminal's only peers are its HQ nodes (election.toml's ``[hq] address``, or ``addresses``
  when HQ runs on two nodes; terminal.toml's enrolled address one of them) and it listens on no
  network port (a Unix socket for local IPC is fine); HQ listens only on one of its configured
  closed-network addresses and serves enrolled terminals only.
③ TLS 1.3 only, AEAD ciphers, no compression, no session tickets across terminals.
④ No default route and no public address on the machine, HQ refuses to bind a public address
  (loopback only with the explicit development flag), the modem uses the closed APN of
  election.toml.
Plus, on a terminal, one more line an auditor asks for: the roll is encrypted at rest.

Shape: ``SystemFacts`` are gathered from a proc root (``/proc`` or a fake one in tests:
net/route, net/ipv6_route, net/fib_trie, net/if_inet6, net/tcp{,6}, net/udp{,6}) and, for the
real root only, ``ip -j addr``. The checks are pure functions of those facts and of the files in
TDIR/HQDIR. Nothing here opens a network connection or sends a packet.

It lives with HQ because it reads HQ's server settings, registry and CRL keeper as well as a
terminal's files; the terminal package itself imports nothing of HQ's.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from appliance import atrest
from appliance.dirs import HqDir, TerminalDir
from ground.clock import Clock
from ground.errors import UsageError
from hq.crl_keeper import read_status, serials_to_revoke, settings_of_status
from hq.server import check_bind_address
from hq.terminals import read_terminals
from provisioning import pki
from provisioning.pki import PkiPaths
from sync_protocol.errors import SyncError
from sync_protocol.tls import client_context, server_context

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CONDITIONS = {
    1: "① 選挙 CA のクライアント証明書必須・失効リスト有効・端末の登録済み身元",
    2: "② 接続先は本部だけ・端末は待受なし・本部は閉域網アドレスのみで登録端末にだけ応答",
    3: "③ TLS 1.3 のみ・AEAD 暗号・圧縮なし・セッションチケットなし",
    4: "④ 既定経路なし・公開アドレスなし・本部は公開アドレスで待ち受けない・閉域 APN",
    5: "保存データの暗号化（名簿・受付記録）",
}
# UDP client ports that are bound but not services (DHCP clients)
_UDP_CLIENT_PORTS = {68, 546}
_RTF_UP, _RTF_REJECT = 0x0001, 0x0200


@dataclass
class Check:
    condition: int  # 1..4 the 特定通信 conditions; 5 data at rest (terminal only)
    ok: bool = True
    evidence: list[str] = field(default_factory=list)

    def good(self, line: str) -> None:
        self.evidence.append(f"OK  {line}")

    def bad(self, line: str) -> None:
        self.ok = False
        self.evidence.append(f"NG  {line}")

    def note(self, line: str) -> None:
        self.evidence.append(f"--  {line}")

    def as_dict(self) -> dict[str, Any]:
        return {"condition": self.condition, "title": CONDITIONS[self.condition],
                "result": "PASS" if self.ok else "FAIL", "evidence": self.evidence}


# ---------------------------------------------------------------------------------------------
# facts about the machine (read-only)

@dataclass(frozen=True)
class Route:
    family: int  # 4 or 6
    iface: str
    dest: str  # "0.0.0.0/0", "::/0", ...
    gateway: str

    @property
    def is_default(self) -> bool:
        return self.dest in ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class Listener:
    proto: str  # tcp, tcp6, udp, udp6
    address: IpAddress
    port: int


@dataclass(frozen=True)
class SystemFacts:
    routes: tuple[Route, ...]
    addresses: tuple[tuple[str, IpAddress], ...]  # (interface or "?", address)
    listeners: tuple[Listener, ...]
    sources: tuple[str, ...]  # what was read, for the evidence
    problems: tuple[str, ...] = ()  # sources that could not be read


def _hex_ip4(h: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(bytes.fromhex(h)[::-1])


def _hex_ip6(h: str) -> ipaddress.IPv6Address:
    # /proc/net/tcp6 prints four 32-bit words, each in host (little-endian) order
    b = bytes.fromhex(h)
    return ipaddress.IPv6Address(b"".join(b[i:i + 4][::-1] for i in range(0, 16, 4)))


def parse_route_v4(text: str) -> list[Route]:
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        try:
            flags = int(f[3], 16)
            dest, gw, mask = _hex_ip4(f[1]), _hex_ip4(f[2]), _hex_ip4(f[7])
        except ValueError:
            continue
        if not flags & _RTF_UP or flags & _RTF_REJECT:
            continue
        plen = bin(int(mask)).count("1")
        out.append(Route(4, f[0], f"{dest}/{plen}", str(gw)))
    return out


def parse_route_v6(text: str) -> list[Route]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10:
            continue
        try:
            dest = ipaddress.IPv6Address(bytes.fromhex(f[0]))
            plen = int(f[1], 16)
            gw = ipaddress.IPv6Address(bytes.fromhex(f[4]))
            flags = int(f[8], 16)
        except ValueError:
            continue
        if not flags & _RTF_UP or flags & _RTF_REJECT or f[9] == "lo":
            continue
        out.append(Route(6, f[9], f"{dest}/{plen}", str(gw)))
    return out


def parse_fib_trie(text: str) -> list[IpAddress]:
    """Local IPv4 addresses: an address line followed by ``/32 host LOCAL``."""
    out: list[IpAddress] = []
    last: str | None = None
    for line in text.splitlines():
        s = line.strip().lstrip("|-+` ").strip()
        if "/32 host LOCAL" in line and last is not None:
            try:
                a = ipaddress.IPv4Address(last)
            except ValueError:
                continue
            if a not in out:
                out.append(a)
        else:
            last = s.split()[0] if s else None
    return out


def parse_if_inet6(text: str) -> list[tuple[str, IpAddress]]:
    out: list[tuple[str, IpAddress]] = []
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 6:
            try:
                out.append((f[5], ipaddress.IPv6Address(bytes.fromhex(f[0]))))
            except ValueError:
                continue
    return out


def parse_ip_json(text: str) -> list[tuple[str, IpAddress]]:
    out: list[tuple[str, IpAddress]] = []
    try:
        data = json.loads(text)
    except ValueError:
        return out
    for link in data if isinstance(data, list) else []:
        for a in link.get("addr_info", []) if isinstance(link, dict) else []:
            try:
                out.append((str(link.get("ifname", "?")), ipaddress.ip_address(a["local"])))
            except (KeyError, ValueError, TypeError):
                continue
    return out


def parse_sockets(text: str, proto: str) -> list[Listener]:
    """TCP sockets in LISTEN (0A) and UDP sockets bound to a port (07, unconnected)."""
    out = []
    six = proto.endswith("6")
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 4 or ":" not in f[1]:
            continue
        addr_hex, port_hex = f[1].rsplit(":", 1)
        st = f[3]
        try:
            port = int(port_hex, 16)
            addr: IpAddress = _hex_ip6(addr_hex) if six else _hex_ip4(addr_hex)
        except ValueError:
            continue
        if (proto.startswith("tcp") and st == "0A") or (proto.startswith("udp") and st == "07" and port):
            out.append(Listener(proto, addr, port))
    return out


def gather_facts(proc_root: Path = Path("/proc"), *, use_ip_command: bool | None = None) -> SystemFacts:
    """Read routes, addresses and listening sockets. Reads files (and runs ``ip -j addr``
    for the real /proc only); sends nothing."""
    sources: list[str] = []
    problems: list[str] = []

    def read(rel: str) -> str | None:
        p = proc_root / rel
        try:
            t = p.read_text("ascii", errors="replace")
        except OSError:
            problems.append(str(p))
            return None
        sources.append(str(p))
        return t

    routes: list[Route] = []
    if (t := read("net/route")) is not None:
        routes += parse_route_v4(t)
    if (t := read("net/ipv6_route")) is not None:
        routes += parse_route_v6(t)
    addrs: list[tuple[str, IpAddress]] = []
    if (t := read("net/fib_trie")) is not None:
        addrs += [("?", a) for a in parse_fib_trie(t)]
    if (t := read("net/if_inet6")) is not None:
        addrs += parse_if_inet6(t)
    if use_ip_command is None:
        use_ip_command = proc_root == Path("/proc")
    ip = shutil.which("ip") if use_ip_command else None
    if ip:
        try:
            r = subprocess.run([ip, "-j", "addr"], capture_output=True, text=True, timeout=5)
            got = parse_ip_json(r.stdout)
            if got:
                sources.append("ip -j addr")
                addrs = [(n, a) for n, a in addrs if n != "?"] + got + [
                    ("?", a) for n, a in addrs if n == "?" and a not in {g for _, g in got}]
        except (OSError, subprocess.SubprocessError):
            problems.append("ip -j addr")
    listeners: list[Listener] = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        if (t := read(f"net/{proto}")) is not None:
            listeners += parse_sockets(t, proto)
    return SystemFacts(tuple(routes), tuple(dict.fromkeys(addrs)), tuple(listeners), tuple(sources),
                       tuple(problems))


# ---------------------------------------------------------------------------------------------
# checks shared by both sides

def _is_public(a: IpAddress) -> bool:
    return a.is_global and not a.is_loopback and not a.is_link_local


def _check_network(c: Check, facts: SystemFacts) -> None:
    defaults = [r for r in facts.routes if r.is_default]
    if defaults:
        for r in defaults:
            c.bad(f"既定経路があります: {r.dest} via {r.gateway} dev {r.iface}")
    else:
        c.good(f"既定経路なし（経路 {len(facts.routes)} 件を確認）")
    public = [(n, a) for n, a in facts.addresses if _is_public(a)]
    if public:
        for n, a in public:
            c.bad(f"公開アドレスがあります: {a}（{n}）")
    else:
        c.good(f"公開アドレスなし（アドレス {len(facts.addresses)} 件を確認）")
    for p in facts.problems:
        c.bad(f"読めませんでした: {p}")


def _check_bind_rules(c: Check) -> None:
    for host, dev in (("8.8.8.8", False), ("0.0.0.0", False), ("127.0.0.1", False)):
        try:
            check_bind_address(host, dev)
            c.bad(f"本部サーバが {host} での待受を拒否しません")
        except SyncError as e:
            c.good(f"本部サーバは {host} での待受を拒否します（{e.code}）")


def _check_apn(c: Check, closed_apn: str | None) -> None:
    if closed_apn:
        c.good(f"election.toml [network] closed_apn = {closed_apn!r}（モデムはこの APN だけを設定し、他の APN を拒否）")
    else:
        c.bad("election.toml に [network] closed_apn がありません（閉域 APN を確認できません）")


def _check_tls_context(c: Check, ctx: ssl.SSLContext, *, server: bool) -> None:
    if ctx.minimum_version == ssl.TLSVersion.TLSv1_3 and ctx.maximum_version == ssl.TLSVersion.TLSv1_3:
        c.good("TLS 1.3 のみ（minimum_version = maximum_version = TLSv1_3）")
    else:
        c.bad(f"TLS の版が 1.3 に限定されていません（{ctx.minimum_version.name}〜{ctx.maximum_version.name}）")
    v13 = [x for x in ctx.get_ciphers() if x.get("protocol") == "TLSv1.3"]
    if v13 and all(x.get("aead") for x in v13):
        c.good("暗号スイートはすべて AEAD: " + ", ".join(str(x["name"]) for x in v13))
    else:
        c.bad("AEAD でない TLS 1.3 暗号スイートがあります")
    if ctx.options & ssl.OP_NO_COMPRESSION:
        c.good("圧縮なし（OP_NO_COMPRESSION）")
    else:
        c.bad("TLS 圧縮が無効になっていません")
    if ctx.options & ssl.OP_NO_TICKET:
        c.good("セッションチケットなし（OP_NO_TICKET）")
    else:
        c.bad("セッションチケットが無効になっていません")
    if server:
        if ctx.num_tickets == 0:
            c.good("num_tickets = 0（端末間でセッションを再開できない）")
        else:
            c.bad(f"num_tickets = {ctx.num_tickets}")


def _load_certs(path: Path) -> list[Any]:
    from cryptography import x509

    return list(x509.load_pem_x509_certificates(path.read_bytes()))


def _signed_by(cert: Any, issuer: Any) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not signed by it"
        return False


def _host_of(addr: str) -> str:
    host = addr.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


# ---------------------------------------------------------------------------------------------
# terminal

def check_terminal(tdir: TerminalDir, facts: SystemFacts, clock: Clock) -> list[Check]:
    now = clock.now()
    ident = tdir.identity()
    config = tdir.config()
    c1, c2, c3, c4, c5 = (Check(i) for i in range(1, 6))

    # ① enrolled identity
    try:
        ca = _load_certs(tdir.tls / "ca.pem")
        leaf = _load_certs(tdir.tls / "client.pem")[0]
        if len(ca) == 1 and _signed_by(leaf, ca[0]):
            c1.good(f"クライアント証明書は選挙 CA の発行: {leaf.subject.rfc4514_string()}")
        else:
            c1.bad("クライアント証明書が選挙 CA の発行ではありません")
        if leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            c1.good(f"証明書の有効期間内（{leaf.not_valid_after_utc:%Y-%m-%d} まで）")
        else:
            c1.bad(f"証明書の有効期間外（{leaf.not_valid_before_utc:%Y-%m-%d}〜{leaf.not_valid_after_utc:%Y-%m-%d}）")
    except (OSError, ValueError, IndexError) as e:
        c1.bad(f"端末の TLS 証明書を読めません: {e}")
    key = tdir.tls / "client.key"
    if key.exists() and key.stat().st_mode & 0o077 == 0:
        c1.good(f"秘密鍵 {key.name} は所有者だけが読める（0600）")
    elif key.exists():
        c1.bad(f"秘密鍵 {key} が他のユーザーにも読めます")
    else:
        c1.bad(f"秘密鍵がありません: {key}")
    c1.note(f"端末 {ident.terminal_id} / 投票所 {ident.station_id} / 選挙 {ident.election_id}")

    # ② its HQ nodes only, no listening port
    nodes = config.hq_nodes
    if ident.hq_address not in nodes:
        c2.bad(f"接続先が一致しません: terminal.toml {ident.hq_address} / election.toml {', '.join(nodes)}")
    elif len(nodes) == 1:
        c2.good(f"接続先は本部 1 か所だけ: {ident.hq_address}（terminal.toml と election.toml が一致）")
    else:
        c2.good(f"接続先は本部の {len(nodes)} ノードだけ: {', '.join(nodes)}（terminal.toml の {ident.hq_address} は"
                "その一つ。どのノードも選挙 CA の本部名の証明書で確認）")
    try:
        n = len(_load_certs(tdir.tls / "ca.pem"))
        if n == 1:
            c2.good("信頼する CA は選挙 CA 1 つだけ（OS の証明書ストアは使わない）")
        else:
            c2.bad(f"ca.pem に証明書が {n} 枚あります")
    except (OSError, ValueError):
        c2.bad("ca.pem を読めません")
    _check_listeners(c2, facts.listeners, allowed=())
    c2.note("端末内の連絡は TDIR の Unix ソケットだけ（ネットワークの待受ではない）")

    # ③ TLS
    try:
        ctx = client_context(tdir.tls)
        _check_tls_context(c3, ctx, server=False)
        if ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname:
            c3.good("本部の証明書と名前を必ず検証（CERT_REQUIRED, check_hostname）")
        else:
            c3.bad("本部の証明書の検証が必須になっていません")
    except (OSError, ssl.SSLError) as e:
        c3.bad(f"TLS の設定を読み込めません: {e}")

    # ④ routes, addresses, APN, HQ bind rules
    _check_network(c4, facts)
    _check_apn(c4, config.closed_apn)
    for node in nodes:
        try:
            if _is_public(ipaddress.ip_address(_host_of(node))):
                c4.bad(f"本部のアドレスが公開アドレスです: {node}")
            else:
                c4.good(f"本部のアドレスは閉域網（非公開）: {node}")
        except ValueError:
            c4.note(f"本部のアドレスは名前です（閉域網の DNS で解決）: {node}")
    _check_bind_rules(c4)

    # data at rest
    if atrest.is_protected(tdir):
        c5.good(f"名簿と受付記録は SQLCipher で暗号化、データ鍵は PIN で封印: {atrest.sealed_path(tdir)}")
        try:
            kinds = atrest.wrapping_kinds(tdir)
        except Exception as e:  # noqa: BLE001 - a corrupt sealed file is itself a finding
            c5.bad(f"封印ファイルを読めません: {e}")
            kinds = []
        if "pin+card" in kinds and "pin" not in kinds:
            c5.good("PIN と登録カードの両方が必要（盗まれたディスクで PIN を総当たりできない）")
        elif "pin" in kinds:
            c5.note("PIN だけで開設できます（ディスクを盗まれると PIN の総当たりが可能。meibo terminal seal-card で"
                    "登録カードも必要にできます）")
        c5.note("開設中" if atrest.unlocked_key(tdir) is not None else "閉鎖中（鍵はどこにも平文でない）")
    else:
        c5.bad("端末の保存データが暗号化されていません（PIN なしで登録された端末）")
    return [c1, c2, c3, c4, c5]


def _check_listeners(c: Check, listeners: tuple[Listener, ...], allowed: tuple[tuple[IpAddress, int], ...]) -> None:
    exposed = [x for x in listeners if not x.address.is_loopback
               and not (x.proto.startswith("udp") and x.port in _UDP_CLIENT_PORTS)
               and (x.address, x.port) not in allowed]
    local = [x for x in listeners if x.address.is_loopback]
    for x in exposed:
        c.bad(f"ネットワークで待ち受けています: {x.proto} {x.address}:{x.port}")
    if not exposed:
        c.good("ネットワークの待受なし（/proc/net/tcp, tcp6, udp, udp6）")
    if local:
        c.note("ループバックだけの待受（外から届かない）: "
               + ", ".join(f"{x.proto} {x.address}:{x.port}" for x in local[:10]))


# ---------------------------------------------------------------------------------------------
# HQ

def check_hq(hq: HqDir, facts: SystemFacts, clock: Clock) -> list[Check]:
    now = clock.now()
    config = hq.config()
    p = PkiPaths(hq.pki)
    c1, c2, c3, c4 = (Check(i) for i in range(1, 5))
    ctx: ssl.SSLContext | None = None
    try:
        ctx = server_context(hq.pki)
    except (OSError, ssl.SSLError) as e:
        c1.bad(f"本部の TLS 設定を読み込めません: {e}")

    # ① client certificates + CRL
    if ctx is not None:
        if ctx.verify_mode == ssl.CERT_REQUIRED:
            c1.good("クライアント証明書必須（CERT_REQUIRED）")
        else:
            c1.bad("クライアント証明書が必須になっていません")
        if ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF:
            c1.good("端末証明書ごとに失効リストを確認（VERIFY_CRL_CHECK_LEAF）")
        else:
            c1.bad("失効リストの確認が有効になっていません")
        cas = ctx.get_ca_certs()
        if len(cas) == 1:
            subj = ", ".join("=".join(map(str, kv)) for rdn in cas[0].get("subject", ()) for kv in rdn)
            c1.good(f"信頼する CA は選挙 CA 1 つだけ: {subj}")
        else:
            c1.bad(f"信頼する CA が {len(cas)} 個あります")
    try:
        ca = _load_certs(p.ca_cert)[0]
        crl = x509.load_pem_x509_crl(p.crl.read_bytes())
        if crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key()):
            c1.good(f"失効リストは選挙 CA の署名つき（失効 {len(list(crl))} 件）")
        else:
            c1.bad("失効リストが選挙 CA の署名ではありません")
        nu = crl.next_update_utc
        if nu is not None and nu > now:
            c1.good(f"失効リストは有効（次回更新 {nu:%Y-%m-%d %H:%M} UTC）")
        else:
            c1.bad(f"失効リストの期限切れ（次回更新 {nu}）: 全端末が拒否されます。meibo hq crl-renew で再発行してください")
    except (OSError, ValueError, IndexError) as e:
        c1.bad(f"選挙 CA または失効リストを読めません: {e}")
    _check_crl_renewal(c1, hq, now)

    # ② where HQ listens (on one of its nodes' addresses: this machine is one of them), who it serves
    nodes = config.hq_nodes
    for node in nodes:
        try:
            check_bind_address(_host_of(node), False)
            c2.good(f"待受アドレスは閉域網: {node}")
        except SyncError as e:
            c2.bad(f"待受アドレス {node} は本番では使えません: {e.message}")
    allowed: dict[int, list[IpAddress | None]] = {}
    for node in nodes:
        try:
            want: IpAddress | None = ipaddress.ip_address(_host_of(node))
        except ValueError:
            want = None  # a name: no listener can be matched to it
        allowed.setdefault(int(node.rsplit(":", 1)[1]), []).append(want)
    for port, wants in allowed.items():
        on_port = [x for x in facts.listeners if x.proto.startswith("tcp") and x.port == port]
        wrong = [x for x in on_port if x.address not in wants]
        for x in wrong:
            c2.bad(f"ポート {port} を設定外のアドレスで待ち受けています: {x.address}")
        if not on_port:
            c2.note(f"いまポート {port} で待ち受けているものはありません（本部サーバ停止中）")
        elif not wrong:
            c2.good(f"ポート {port} は設定のアドレスだけで待受")
    try:
        ts = read_terminals(hq)
        active = [t for t in ts if not t.get("revoked")]
        c2.good(f"応答するのは登録済み端末だけ（証明書必須 + 登録簿: 有効 {len(active)} 台、取消 {len(ts) - len(active)} 台）")
    except Exception as e:  # noqa: BLE001 - a corrupt registry is itself a finding
        c2.bad(f"端末の登録簿を読めません: {e}")

    # ③ TLS
    if ctx is not None:
        _check_tls_context(c3, ctx, server=True)
    else:
        c3.bad("本部の TLS 設定を読み込めません")

    # ④
    _check_network(c4, facts)
    _check_bind_rules(c4)
    _check_apn(c4, config.closed_apn)
    c4.note("本部の hq.db は暗号化していません（庁舎内の選挙管理委員会サーバ。docs/security.md）")
    return [c1, c2, c3, c4]


def _span(seconds: float) -> str:
    s = int(seconds)
    if s >= 86400 and s % 3600 == 0:
        return f"{s / 86400:g} 日" if s % 86400 == 0 else f"{s // 3600} 時間"
    if s >= 3600:
        return f"{s // 3600} 時間 {s % 3600 // 60} 分"
    return f"{s // 60} 分 {s % 60} 秒" if s >= 60 else f"{s} 秒"


def _check_crl_renewal(c1: Check, hq: HqDir, now: datetime) -> None:
    """① also needs the CRL to *stay* current: OpenSSL refuses every terminal once it lapses,
    and early voting outlasts one CRL. Evidence: HQ's renewal status (pki/crl-renewal.json,
    written by the serving HQ), the CA key HQ signs with, and the CRL against the registry."""
    status = read_status(hq)
    settings = settings_of_status(status)
    policy = f"寿命 {_span(settings.lifetime.total_seconds())}、残り {_span(settings.renew_below.total_seconds())}を切ると再発行"
    if status is None:
        c1.note(f"本部サーバはまだ失効リストの自動更新を始めていません（meibo hq serve で開始、既定で有効: {policy}）")
    elif not status.get("renew", True):
        c1.bad(f"失効リストの自動更新が無効です（{policy}）: 期限が来ると全端末が拒否されます")
    else:
        last = status.get("last_issued_at") or "—"
        state = "本部サーバ稼働中" if status.get("serving") else "本部サーバ停止中（起動すると更新を再開）"
        c1.good(f"失効リストの自動更新が有効（{policy}、最終発行 {last}、{state}）")
    if status and status.get("last_error"):
        c1.bad(f"失効リストの自動更新でエラー: {status['last_error']}")
    if not pki.PkiPaths(hq.pki).ca_key.exists():
        c1.bad("選挙 CA の鍵が本部にないため、失効リストを更新できません（自動更新には ca.key が必要）")
    info = pki.read_crl(hq.pki)
    if info is None:
        return  # already reported above
    try:
        must = serials_to_revoke(hq)
    except (OSError, ValueError, KeyError, TypeError):
        must = set()
    missing = must - info.serials
    if missing:
        c1.bad(f"失効させた端末の証明書 {len(missing)} 件が失効リストにありません（meibo hq crl-renew）")
    due = pki.crl_renewal_due(info, now, settings)
    if due == "half_life":
        left = (info.next_update - now).total_seconds()
        c1.bad(f"失効リストの再発行が遅れています（残り {_span(left)}）: 本部サーバが止まっているか、更新に失敗しています")
    elif due == "not_yet_valid":
        c1.bad(f"失効リストの発行日時 {info.last_update:%Y-%m-%d %H:%M} UTC が未来です（時計を確認してください）")


def run(target: Path, clock: Clock, proc_root: Path = Path("/proc"), *,
        use_ip_command: bool | None = None) -> dict[str, Any]:
    """The report for TDIR or HQDIR (decided by what the directory holds)."""
    facts = gather_facts(proc_root, use_ip_command=use_ip_command)
    if (target / "terminal.toml").exists():
        kind, checks = "terminal", check_terminal(TerminalDir(target), facts, clock)
    elif (target / "election.toml").exists() and (target / "pki").exists():
        kind, checks = "hq", check_hq(HqDir(target), facts, clock)
    else:
        raise UsageError(f"端末ディレクトリでも本部ディレクトリでもありません: {target}", code="not_meibo_dir")
    ok = all(c.ok for c in checks)
    return {"code": "ok" if ok else "noncompliant", "kind": kind, "target": str(target),
            "checked_at": clock.now().isoformat(timespec="seconds"), "sources": list(facts.sources),
            "conditions": [c.as_dict() for c in checks]}


def render(report: dict[str, Any]) -> str:
    who = "端末" if report["kind"] == "terminal" else "本部"
    lines = [f"特定通信の自己点検（{who}: {report['target']}、{report['checked_at']}）"]
    for c in report["conditions"]:
        lines.append(f"[{c['result']}] {c['title']}")
        lines += [f"    {e}" for e in c["evidence"]]
    lines.append("結果: 適合" if report["code"] == "ok" else "結果: 不適合の項目があります")
    return "\n".join(lines)
