"""The terminal's side of card enrollment (``meibo terminal enroll``): the I/O edge of enroll.py.

Owns: driving the card (CardClient over any CardReader), HQ's enrollment endpoint (aiohttp, TLS
pinned to the card's CA fingerprint) and the new terminal directory. Everything is built in a
staging directory beside TDIR (the same ``Staging`` and key helpers (appliance/staging.py) as ``hq enroll-local``) and
renamed into place only after HQ committed, so any failure leaves TDIR as it was (absent, or the
old enrolled directory). Keys are generated here and never leave the terminal: HQ gets only the
CSR of the TLS key and the public half of the device key.

Trust: the first request (GET /enroll/v1/ca) runs without verification on purpose; what it
returns is trusted only if its SHA-256 equals the fingerprint on the card. Every later request
verifies HQ's certificate chain against exactly that CA (no system store) and HQ's stable name.

HQ nodes (issue 18): the card names one HQ address, but the election.toml HQ sends (over the
pinned link) lists every node in ``[hq] addresses``; the terminal keeps it, and records as its
own HQ address the one HQ names, which must be one of them, so the sync agent dials every node
(sync_protocol/client.py) whichever node enrolled it. ``EnrollResult.hq_addresses`` says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance import atrest, journal
from appliance.dirs import TerminalDir, TerminalIdentity, write_atomic, write_private
from appliance.rollpkg import open_package
from appliance.rollinstall import install_verified
from appliance.store import Store
from appliance.terminal import write_pin
from ground.clock import Clock
from appliance.staging import Staging, ed25519_keypair
from ground.errors import HqUnreachable, MeiboError
from ground.model import StationId, TerminalId
from hardware.cardreader.base import CardAbsent, CardReader, msg_card_absent
from provisioning import pki
from provisioning.card_client import (CardAlreadyUsed, CardClient, CardLocked, CardOfOtherElection,
                                      EnrollmentData, WrongPin)
from provisioning.enroll import (T_HQ_SESSION, T_TABLE, AlreadyEnrolled, CaInfo, Certified, Challenge,
                                 EnrollProtocolError, Hello, HqNotTrusted, Proof, Proven,
                                 TState, challenge_for, enrollment_address, fingerprint,
                                 make_csr, refusal, step)


def check_certificate(cert_pem: bytes, ca_pem: bytes, csr_der: bytes, election_id: str, terminal: str,
                      station: str) -> None:
    """The terminal's check of what HQ issued: our key, our names, signed by the pinned CA. (Here,
    not in the pure enroll.py: the names come from pki.cert_identity, in the CA's own module.)"""
    bad = EnrollProtocolError("本部から受け取った証明書がこの端末のものではありません", code="certificate_mismatch")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert.verify_directly_issued_by(ca)
        ours = x509.load_der_x509_csr(csr_der).public_key()
    except Exception:  # ValueError, TypeError, InvalidSignature: every failure is the same answer
        raise bad from None
    def pub(k: Any) -> bytes:
        return k.public_bytes(serialization.Encoding.DER,  # type: ignore[no-any-return]
                              serialization.PublicFormat.SubjectPublicKeyInfo)

    ident = pki.cert_identity(cert.public_bytes(serialization.Encoding.DER))
    if pub(cert.public_key()) != pub(ours) or ident is None or ident[:3] != (election_id, terminal, station):
        raise bad


PinSource = Callable[[int], str]  # tries left → the PIN typed (or read from --pin-file)
Progress = Callable[[str], None]  # Japanese lines for people: wording may change, never parse them
OnState = Callable[[TState], None]  # each state the terminal reaches in enroll.T_TABLE, in order


@dataclass(frozen=True)
class EnrollSettings:
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 30.0
    roll_timeout_s: float = 600.0  # a 1M-voter roll at the cell edge
    abort_timeout_s: float = 3.0
    commit_attempts: int = 4  # COMMIT is idempotent per session: ask again if the answer was lost
    commit_retry_s: float = 1.0
    card_wait_s: float = 0.0  # how long to wait for the card to be inserted


@dataclass
class EnrollResult:
    terminal: str
    station: str
    election_id: str
    card_serial: str
    tls_serial: int
    roll_version: int
    hq_address: str
    replaced: str | None
    timings: dict[str, float] = field(default_factory=dict)
    enrolled_via: str = ""  # the enrollment address that served (of several HQ nodes', the first reachable)
    hq_addresses: tuple[str, ...] = ()  # every HQ node the terminal will sync with, in the order it tries them


class _Flow:
    """The terminal's state, moved only through enroll.T_TABLE; ``on_state`` hears each new state
    (after it is taken, so a listener that raises fails the enrollment from that state)."""

    def __init__(self, on_state: OnState | None = None) -> None:
        self.state = TState.START
        self.on_state = on_state

    def __call__(self, event: str) -> None:
        self.state = step(T_TABLE, self.state, event)
        if self.on_state is not None:
            self.on_state(self.state)


def _hostport(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def _pinned_context(ca_pem: bytes) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no load_default_certs(): the card's CA only
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca_pem.decode("ascii"))
    return ctx


def _unverified_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # only for GET /ca, whose answer is checked by fingerprint
    return ctx


class _Hq:
    """HTTP to the enrollment endpoint; foreign exceptions become HqUnreachable / HqNotTrusted."""

    def __init__(self, address: str, settings: EnrollSettings) -> None:
        self.host, self.port = _hostport(address)
        self.address = address
        self.settings = settings
        self.http: aiohttp.ClientSession | None = None
        self.ctx: ssl.SSLContext | None = None
        self.server_name = ""

    def _url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{path}"

    def _fail(self, e: BaseException) -> MeiboError:
        if isinstance(e, aiohttp.ClientConnectorCertificateError) or isinstance(e, ssl.SSLCertVerificationError):
            return HqNotTrusted(f"本部（{self.address}）の証明書がカードの選挙 CA と一致しません。"
                                "接続先が正しいか本部に確認してください", code="hq_not_trusted")
        return HqUnreachable(f"本部の登録窓口（{self.address}）に接続できません: {type(e).__name__} {e}。"
                             "本部で meibo hq provisioning が動いているか、回線を確かめてください",
                             code="hq_unreachable", address=self.address)

    async def open(self) -> None:
        t = self.settings
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=None, connect=t.connect_timeout_s, sock_connect=t.connect_timeout_s, sock_read=t.request_timeout_s))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def ca(self) -> CaInfo:
        assert self.http is not None
        try:
            async with self.http.get(self._url("/enroll/v1/ca"), ssl=_unverified_context()) as r:
                body = await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
            raise self._fail(e) from None
        return CaInfo.parse(body)

    def pin(self, ca_pem: bytes, election_id: str) -> None:
        self.ctx = _pinned_context(ca_pem)
        self.server_name = pki.hq_server_name(election_id)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        assert self.http is not None and self.ctx is not None
        try:
            async with self.http.post(self._url(path), json=body, ssl=self.ctx,
                                      server_hostname=self.server_name) as r:
                raw = await r.read()
                status = r.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise self._fail(e) from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise EnrollProtocolError(f"本部の登録窓口がエラーを返しました（HTTP {status}）", code="hq_error",
                                      http_status=status) from None
        if isinstance(data, dict) and data.get("status") == "error":
            raise refusal(str(data.get("code")), hq_message=str(data.get("message", "")))
        return data

    async def download(self, version: int, session: bytes, out: Path, size: int, sha256: str) -> None:
        assert self.http is not None and self.ctx is not None
        h = hashlib.sha256()
        n = 0
        try:
            async with self.http.get(self._url(f"/enroll/v1/roll/{version}"), ssl=self.ctx,
                                     server_hostname=self.server_name, headers={"X-Meibo-Session": session.hex()},
                                     timeout=aiohttp.ClientTimeout(total=self.settings.roll_timeout_s,
                                                                   connect=self.settings.connect_timeout_s)) as r:
                if r.status != 200:
                    data = await r.json(content_type=None)
                    raise refusal(str(data.get("code")), hq_message=str(data.get("message", "")))
                with open(out, "wb") as f:
                    async for chunk in r.content.iter_chunked(1 << 20):
                        n += len(chunk)
                        if n > size:
                            break
                        h.update(chunk)
                        f.write(chunk)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
            raise self._fail(e) from None
        if n != size or h.hexdigest() != sha256:
            raise EnrollProtocolError(f"名簿第 {version} 版の受信が途中で切れたか、内容が違います", code="roll_download_failed")

    async def abort(self, session: bytes) -> None:
        with contextlib.suppress(MeiboError, asyncio.TimeoutError):
            await asyncio.wait_for(self.post("/enroll/v1/abort", {"session": session.hex()}),
                                   self.settings.abort_timeout_s)


def _read_card(client: CardClient, election: str | None) -> EnrollmentData:
    client.select()
    data = client.check_usable(election) if election else client.read_enrollment_data()
    if data.used:
        raise CardAlreadyUsed(f"このカードは使用済みです（端末 {data.terminal_id} の登録に使われました）",
                              terminal=data.terminal_id)
    return data


def _verify_pin(client: CardClient, pin_source: PinSource) -> None:
    """One try per run: ``WrongPin`` says how many remain; the card locks itself after the last."""
    tries = client.pin_tries_left()
    if tries == 0:
        raise CardLocked()
    try:
        client.verify_pin(pin_source(tries))
    except WrongPin as e:
        if e.tries_left == 0:
            raise CardLocked() from None
        raise


def _local_checks(out: Path, replace: bool) -> None:
    tdir = TerminalDir(out)
    if tdir.identity_path.exists() and not replace:
        raise AlreadyEnrolled(f"この端末ディレクトリはすでに登録済みです（登録し直すときは --replace）: {out}",
                              code="already_enrolled")
    if out.exists() and not tdir.identity_path.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyEnrolled(f"ディレクトリが空ではありません（上書きしません）: {out}", code="dir_not_empty")


def _addresses(hq: str | Sequence[str] | None, card_hq_address: str) -> list[str]:
    """The enrollment addresses to try, in order: ``hq`` (one, or one per HQ node), else the
    card's HQ address's (enroll.enrollment_address)."""
    if isinstance(hq, str):
        return [hq]
    return list(hq) if hq else [enrollment_address(card_hq_address)]


async def _first_reachable(addresses: Sequence[str], settings: EnrollSettings,
                           progress: Progress) -> tuple[_Hq, CaInfo]:
    """The first enrollment endpoint that answers, and its CA. Only an unreachable one is passed
    over: one that answers and is not trusted (or refuses later) ends the enrollment, since
    another node of the same HQ would answer the same."""
    for i, address in enumerate(addresses):
        link = _Hq(address, settings)
        await link.open()
        progress(f"本部の登録窓口 {link.address} に接続します")
        try:
            return link, await link.ca()
        except HqUnreachable as e:
            await link.close()
            if i == len(addresses) - 1:
                raise
            progress(f"{e.message} 次の登録窓口 {addresses[i + 1]} を試します")
        except BaseException:
            await link.close()
            raise
    raise AssertionError("no enrollment address")  # _addresses never gives an empty list


async def enroll(out: Path, reader: CardReader, reader_name: str, pin_source: PinSource, clock: Clock, *,
                 hq: str | Sequence[str] | None = None, replace: bool = False, election: str | None = None,
                 supervisor_pin: str | None = None, settings: EnrollSettings = EnrollSettings(),
                 progress: Progress = lambda s: None, on_state: OnState | None = None) -> EnrollResult:
    """Enroll this terminal into ``out`` with the card in ``reader_name``. Raises a MeiboError
    (card, HQ or local) and leaves ``out``, HQ's register and the card as they were.

    ``on_state(state)`` is called on every transition of enroll.T_TABLE, in order: on success
    every state of ``enroll.T_PATH`` after START (ENROLLED once the directory is in place); on a
    failure the states reached, then FAILED once, after the staging directory is discarded (a
    refusal before the card is read, such as ``already_enrolled`` or no card, reports none). It
    runs on the event loop's thread, between card and HQ steps: keep it quick. ``progress`` lines
    are for people only."""

    _local_checks(out, replace)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    timings: dict[str, float] = {}
    flow = _Flow(on_state)
    if not reader.card_present(reader_name) and not reader.wait_for_card(reader_name, settings.card_wait_s):
        raise CardAbsent(msg_card_absent(reader_name), reader=reader_name)
    stage: Staging | None = None
    link: _Hq | None = None
    session: bytes | None = None
    try:
        with reader.connect(reader_name) as ch:
            card = CardClient(ch)
            data = _read_card(card, election)
            flow("card_read")
            progress(f"カード {data.serial_hex}: 端末 {data.terminal_id} / 投票所 {data.station_id} / 選挙 {data.election_id}")
            _verify_pin(card, pin_source)
            flow("pin_verified")

            stage = Staging(out)
            t = TerminalDir(stage.path)
            device_pub = ed25519_keypair(t.device_key, t.device_pub)
            tls_key_pem, _ = pki.new_device_key()
            write_private(t.tls / "client.key", tls_key_pem)
            csr = make_csr(tls_key_pem, data.terminal_id)
            flow("keys_made")

            link, info = await _first_reachable(_addresses(hq, data.hq_address), settings, progress)
            if fingerprint(info.ca_pem) != data.hq_ca_fingerprint:
                raise HqNotTrusted(f"本部（{link.address}）の選挙 CA がカードに記録された指紋と一致しません。"
                                   "接続先が正しいか本部に確認してください", code="hq_not_trusted")
            if info.election_id != data.election_id:
                raise CardOfOtherElection(f"別の選挙のカードです（カード: {data.election_id}、本部: {info.election_id}）",
                                          card_election=data.election_id, expected=info.election_id)
            link.pin(info.ca_pem, data.election_id)
            flow("hq_trusted")

            hello = Hello(data.election_id, data.serial, data.terminal_id, data.station_id, replace)
            chal = Challenge.parse(await link.post("/enroll/v1/hello", hello.to_json()))
            session = chal.session
            flow("challenge")
            signature = card.internal_authenticate(
                challenge_for(data.election_id, data.serial, chal.session, chal.nonce, csr, device_pub, replace))
            flow("card_signed")
            proven = Proven.parse(await link.post("/enroll/v1/prove",
                                                  Proof(chal.session, csr, device_pub, signature).to_json()))
            flow("proven")
            timings["to_proven_s"] = loop.time() - t0

            # Everything the roll needs, then the roll itself, into the staging directory.
            write_atomic(t.config_path, proven.election_toml)
            write_atomic(t.hq_roll_pub, proven.hq_roll_pub)
            cfg = t.config()
            if cfg.election_id != data.election_id:
                raise EnrollProtocolError("本部から受け取った選挙の設定がカードの選挙と違います", code="config_mismatch")
            cfg.station(data.station_id)
            if proven.hq_address not in cfg.hq_nodes:  # the agent would then know this one node only
                raise EnrollProtocolError(f"本部の同期アドレス {proven.hq_address} が選挙の設定の本部アドレス "
                                          f"{list(cfg.hq_nodes)} にありません", code="config_mismatch")
            version = await _install_rolls(link, chal.session, proven, t, data, supervisor_pin, progress, timings)
            flow("roll_installed")
            timings["to_roll_s"] = loop.time() - t0

            card.mark_used()  # the card's one use, just before HQ commits (see enroll.py)
            flow("card_marked")
            cert = Certified.parse(await _commit(link, chal.session, settings))
            flow("certified")
            session = None  # committed: nothing to abort any more
    except BaseException as e:
        unknown = flow.state is TState.CARD_MARKED and isinstance(e, HqUnreachable)
        try:
            if link is not None and session is not None and flow.state in T_HQ_SESSION:
                await link.abort(session)
            if stage is not None:
                stage.discard()
        finally:
            if flow.state is not TState.FAILED:  # last, so a listener cannot skip the clean-up
                with contextlib.suppress(MeiboError):
                    flow("fail")
        if unknown:
            raise HqUnreachable(
                "本部との接続が登録の確定の直前に切れました。本部で登録が済んだかどうか分かりません。"
                "本部で meibo hq report / terminals.json を確かめ、登録済みなら新しいカードと --replace で、"
                "未登録ならこのカードを取り消して新しいカードで登録し直してください",
                code="commit_unknown") from e
        raise
    finally:
        if link is not None:
            await link.close()

    # HQ has committed: write what it sent and put the directory in place.
    try:
        check_certificate(cert.certificate_pem, info.ca_pem, csr, data.election_id, data.terminal_id, data.station_id)
        write_atomic(t.tls / "client.pem", cert.certificate_pem)
        write_atomic(t.tls / "ca.pem", info.ca_pem)
        t.write_identity(TerminalIdentity(TerminalId(data.terminal_id), StationId(data.station_id), data.election_id,
                                          proven.hq_address))
        replaced: str | None = None
        if out.exists() and any(out.iterdir()):
            # never destroy a journal: the old directory is kept beside the new one
            moved = out.with_name(f"{out.name}.replaced-{clock.now():%Y%m%dT%H%M%S}")
            os.replace(out, moved)
            replaced = str(moved)
        stage.commit()
    except BaseException:
        stage.discard()
        with contextlib.suppress(MeiboError):
            flow("fail")
        raise
    flow("committed")  # outside the try: the directory is in place whatever a listener does
    timings["total_s"] = loop.time() - t0
    return EnrollResult(data.terminal_id, data.station_id, data.election_id, data.serial_hex, cert.serial, version,
                        proven.hq_address, replaced, timings, link.address, cfg.hq_nodes)


async def _commit(link: _Hq, session: bytes, settings: EnrollSettings) -> Any:
    for attempt in range(settings.commit_attempts):
        try:
            return await link.post("/enroll/v1/commit", {"session": session.hex()})
        except HqUnreachable:
            if attempt + 1 == settings.commit_attempts:
                raise
            await asyncio.sleep(settings.commit_retry_s)


async def _install_rolls(link: _Hq, session: bytes, proven: Proven, t: TerminalDir, data: EnrollmentData,
                         supervisor_pin: str | None, progress: Progress, timings: dict[str, float]) -> int:
    key = None
    if supervisor_pin is not None:
        write_pin(t, supervisor_pin)
        key = atrest.seal_new(t, supervisor_pin)  # personal data at rest, as hq enroll-local does
    store = Store(t.store_path, key=key) if key is not None else Store(t.store_path)
    loop = asyncio.get_running_loop()
    try:
        journal.init(store, data.election_id, TerminalId(data.terminal_id))
        version = 0
        dl = t.root / "rolls.tmp"
        dl.mkdir(exist_ok=True)
        for ref in proven.rolls:
            progress(f"名簿 第 {ref.version} 版（{ref.size / 1e6:.1f} MB）を受信しています")
            path = dl / f"v{ref.version}.mbr"
            t1 = loop.time()
            await link.download(ref.version, session, path, ref.size, ref.sha256)
            t2 = loop.time()
            pkg = path.read_bytes()
            manifest, body = open_package(pkg, proven.hq_roll_pub)
            await asyncio.to_thread(install_verified, store, manifest, body, data.election_id)
            timings[f"roll_v{ref.version}_download_s"] = t2 - t1
            timings[f"roll_v{ref.version}_install_s"] = loop.time() - t2
            version = manifest.version
        shutil.rmtree(dl, ignore_errors=True)
        return version
    finally:
        store.close()
