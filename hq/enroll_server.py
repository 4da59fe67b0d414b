"""HQ's enrollment endpoint (登録窓口): aiohttp over TLS 1.3 with server authentication only.

Owns: the HTTP edge of ``provisioning.enroll`` on HQ: sessions in memory, the card register, the
terminal registry, certificate issue and the roll packages. It listens on its OWN port, apart
from the sync endpoint, which never completes a handshake without a client certificate
(特定通信 ①); and only while staff keep ``meibo hq provisioning`` running ("provisioning
switched on"). Binding follows hq.server.check_bind_address (特定通信 ④).

Sessions are few and cheap to ask for: a card's serial is readable without its PIN, so /hello
proves nothing yet. Three limits keep one card or one address from filling the table for
everyone else (issue 16): a card has at most one session waiting for its proof (a new /hello
from the same card replaces it), a session must be proven within ``challenge_ttl_s``, and one
client address holds at most ``max_sessions_per_source`` sessions. Only a proven session (the
card's PIN and signature) lives up to ``session_ttl_s``, long enough for the roll download.

Nothing durable changes before COMMIT. COMMIT runs under one lock, on one I/O thread, in this
order: re-check every rule; issue the certificate (the CA key may be offline: that fails before
anything else changed); mark the card used (cards.py: its own file lock, so a concurrent
``cancel-card`` either wins or loses cleanly); on ``replace`` revoke the old identity exactly as
``meibo hq revoke`` does (hq_store.update_registry, then pki.write_crl), so a running HqNode
closes its links; append the new registry entry. With two HQ nodes on one PostgreSQL store the
whole COMMIT runs inside ``shared_files.edit`` (the other node's registry, cards and CA register
pulled first, this enrollment published after: hq/shared_files.py). Never imports the sync server's node, the
terminal store or pyscard.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ground.clock import Clock
from appliance.dirs import HqDir, write_atomic
from ground.errors import IllegalTransition, MeiboError
from hq import shared_files
from hq.listener import bound_port
from hq.roll import versions
from hq.store import update_registry
from provisioning import cards, pki
from provisioning.applet import verify_card_signature
from provisioning.enroll import (H_ROLL_ALLOWED, H_TABLE, CaInfo, CardFacts, Certified, Challenge, EnrollError,
                                 EnrollProtocolError, EnrollUnavailable, HState, Hello, Proof, Proven, RollRef,
                                 TooManyFromSource, admit, challenge_for, csr_public_key, refusal, roll_chain,
                                 session_of, step, NONCE_LEN, SESSION_LEN)

log = logging.getLogger("meibo.enroll")
RandomBytes = Callable[[int], bytes]


@dataclass(frozen=True)
class EnrollServerSettings:
    session_ttl_s: float = 600.0  # hello → commit, including the roll download at the cell edge
    challenge_ttl_s: float = 30.0  # hello → prove: the PIN is asked before hello, so only the card signs here
    max_sessions: int = 32
    max_sessions_per_source: int = 8  # per client address (terminals behind one NAT share one)
    max_body: int = 64 << 10
    roll_chunk: int = 1 << 20


@dataclass
class _Session:
    hello: Hello
    nonce: bytes
    created: float
    source: str = ""  # the client address that said hello
    state: HState = HState.CHALLENGED
    proof: Proof | None = None
    rolls: list[dict[str, Any]] = field(default_factory=list)
    certified: Certified | None = None  # kept so a commit whose answer was lost can be asked again


def _card_facts(hq: HqDir, serial: bytes) -> CardFacts | None:
    try:
        rec = cards.find_card(hq.root, serial.hex().upper())
    except cards.CardUnknown:
        return None
    return CardFacts(bytes.fromhex(rec.serial), rec.election_id, rec.terminal_id, rec.station_id,
                     rec.public_key_bytes, rec.state.value)


def _registry_items(hq: HqDir) -> list[dict[str, Any]]:
    path = hq.root / "terminals.json"
    if not path.exists():
        return []
    raw = json.loads(path.read_text("utf-8"))
    items = raw if isinstance(raw, list) else raw.get("terminals", [])
    return list(items)


def _active(hq: HqDir, terminal: str) -> list[dict[str, Any]]:
    return [d for d in _registry_items(hq) if d.get("terminal") == terminal and not d.get("revoked")]


def revoked_serials(hq: HqDir) -> set[int]:
    """Every certificate serial of a revoked registry entry (per entry when it lists them)."""
    items = _registry_items(hq)
    live = {int(s) for d in items if not d.get("revoked") for s in d.get("tls_serials", [])}
    out: set[int] = set()
    for d in items:
        if d.get("revoked"):
            if d.get("tls_serials"):
                out |= {int(s) for s in d["tls_serials"]}
            else:  # an entry from enroll-local: every serial issued to that terminal but the live ones
                out |= pki.serials_of_terminal(hq.pki, d["terminal"]) - live
    return out


def server_context(pki_dir: Path, chain_dir: Path) -> ssl.SSLContext:
    """TLS 1.3, HQ's certificate, no client certificate asked (the card proves the terminal)."""
    p = pki.PkiPaths(pki_dir)
    chain = chain_dir / "hq-chain.pem"
    chain.write_bytes(p.hq_cert.read_bytes() + p.ca_cert.read_bytes())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(chain, p.hq_key)
    return ctx


class EnrollService:
    def __init__(self, hq: HqDir, clock: Clock, random_bytes: RandomBytes = os.urandom,
                 settings: EnrollServerSettings = EnrollServerSettings(),
                 monotonic: Callable[[], float] = time.monotonic, store_url: str | None = None) -> None:
        self.hq = hq.require()
        self.store_url = store_url  # the store the files are shared through, when not election.toml's
        self.config = hq.config()
        self.clock = clock
        self.random_bytes = random_bytes
        self.settings = settings
        self.monotonic = monotonic
        self.sessions: dict[bytes, _Session] = {}
        self._commit_lock = asyncio.Lock()
        self._io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enroll-io")
        self.enrolled: list[str] = []
        self._digests: dict[tuple[str, int, int], str] = {}

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io_pool, fn, *args)

    def close(self) -> None:
        self._io_pool.shutdown(wait=True)

    # --- rules, on the I/O thread -------------------------------------------------------------
    def _published(self) -> list[dict[str, Any]]:
        if not self.hq.roll_db.exists():
            return []
        return roll_chain(versions(self.hq))

    def _admit(self, hello: Hello) -> tuple[CardFacts, list[dict[str, Any]]]:
        card = _card_facts(self.hq, hello.card_serial)
        chain = self._published()
        admit(hello, self.config.election_id, card, bool(_active(self.hq, hello.terminal)), bool(chain))
        assert card is not None
        return card, chain

    def _commit(self, s: _Session) -> Certified:
        with shared_files.edit(self.hq, self.store_url):  # module doc
            return self._commit_shared(s)

    def _commit_shared(self, s: _Session) -> Certified:
        assert s.proof is not None
        hello = s.hello
        self._admit(hello)  # again: a cancel-card or another enrollment may have happened since
        key = csr_public_key(s.proof.csr_der)
        try:
            cert_pem, serial = pki.issue_device_cert(self.hq.pki, self.config, hello.terminal, hello.station,
                                                     key, self.clock)
        except pki.CaKeyMissing:
            raise refusal("ca_key_missing")
        try:
            cards.mark_used(self.hq.root, hello.card_serial.hex().upper(), self.clock)
        except cards.CardStateConflict as e:
            cancelled = e.details.get("state") == cards.CardRecordState.CANCELLED.value  # the recorded state, not the code
            raise refusal("card_cancelled" if cancelled else "card_used") from None
        now = self.clock.now().isoformat(timespec="seconds")
        revoked: set[int] = set()
        with self.hq.registry_lock():
            if _active(self.hq, hello.terminal):
                old = {int(x) for d in _active(self.hq, hello.terminal) for x in d.get("tls_serials", [])}
                old |= pki.serials_of_terminal(self.hq.pki, hello.terminal) - {serial}
                update_registry(self.hq, hello.terminal, revoked=True,
                                revoked_reason=f"再登録（カード {hello.card_serial.hex().upper()}）", revoked_at=now)
                revoked = old
            items = _registry_items(self.hq)
            items.append({"terminal": hello.terminal, "station": hello.station, "device_pub": s.proof.device_pub.hex(),
                          "enrolled_at": self.clock.now().isoformat(), "revoked": False, "tls_serials": [serial],
                          "card": hello.card_serial.hex().upper(), "enrolled_by": "card"})
            write_atomic(self.hq.root / "terminals.json",
                         json.dumps(items, ensure_ascii=False, indent=1).encode("utf-8"))
            if revoked:
                pki.write_crl(self.hq.pki, self.clock, revoked_serials(self.hq) | revoked)
        log.warning("enrolled terminal %s at station %s with card %s%s", hello.terminal, hello.station,
                    hello.card_serial.hex().upper(), " (replacing the old identity)" if revoked else "")
        return Certified(cert_pem, serial, tuple(sorted(revoked)))

    # --- sessions -------------------------------------------------------------------------------
    def _roll_file(self, version: dict[str, Any]) -> Path:
        # versions() records the path at publish time; the file lives in HQDIR/rolls/ wherever
        # the HQ directory has been moved (a restored backup, a rehearsal copy).
        return self.hq.rolls / Path(str(version["file"])).name

    def _sha256(self, path: Path) -> str:
        st = path.stat()
        k = (str(path), st.st_size, st.st_mtime_ns)
        if k not in self._digests:
            self._digests[k] = _sha256_file(path)
        return self._digests[k]

    def _expire(self) -> None:
        now = self.monotonic()
        for sid, s in list(self.sessions.items()):
            ttl = self.settings.challenge_ttl_s if s.state is HState.CHALLENGED else self.settings.session_ttl_s
            if now - s.created > ttl or s.state not in (HState.CHALLENGED, HState.PROVEN, HState.ENROLLED):
                del self.sessions[sid]

    def _drop_card_sessions(self, serial: bytes, *, keep: bytes | None = None, waiting_only: bool) -> None:
        """Forget the card's other sessions: at /hello only those still waiting for a proof (a
        proven session needed the PIN, so a stranger who read the serial cannot end it); at a
        successful /prove all of them, leaving the card one live session."""
        for sid, s in list(self.sessions.items()):
            if sid != keep and s.hello.card_serial == serial and \
                    (not waiting_only or s.state is HState.CHALLENGED):
                del self.sessions[sid]

    def _session(self, sid: bytes) -> _Session:
        self._expire()
        s = self.sessions.get(sid)
        if s is None:
            raise refusal("session_unknown")
        return s

    def _move(self, s: _Session, event: str) -> None:
        s.state = step(H_TABLE, s.state, event)

    # --- HTTP -----------------------------------------------------------------------------------
    @staticmethod
    def _error(e: MeiboError) -> web.Response:
        if isinstance(e, (EnrollUnavailable, pki.CaKeyMissing)):
            status = 503
        elif isinstance(e, TooManyFromSource):
            status = 429
        else:
            status = 400 if isinstance(e, EnrollProtocolError) else 403
        return web.json_response({"status": "error", **e.as_dict()}, status=status)

    async def _json(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except (ValueError, UnicodeDecodeError):
            raise EnrollProtocolError("JSON が読めません", code="bad_request") from None

    async def h_ca(self, request: web.Request) -> web.Response:
        ca = pki.PkiPaths(self.hq.pki).ca_cert.read_bytes()
        return web.json_response(CaInfo(self.config.election_id, ca).to_json())

    async def h_hello(self, request: web.Request) -> web.Response:
        try:
            hello = Hello.parse(await self._json(request))
            await self.io(self._admit, hello)
            self._expire()
            # No await from here to the insert: the checks and the new session are one step.
            self._drop_card_sessions(hello.card_serial, waiting_only=True)
            source = request.remote or ""
            if sum(1 for s in self.sessions.values() if s.source == source) >= self.settings.max_sessions_per_source:
                log.warning("enrollment hello from %s refused: %d sessions from that address", source,
                            self.settings.max_sessions_per_source)
                raise refusal("too_many_from_source")
            if len(self.sessions) >= self.settings.max_sessions:
                raise refusal("busy")
            sid, nonce = self.random_bytes(SESSION_LEN), self.random_bytes(NONCE_LEN)
            self.sessions[sid] = _Session(hello, nonce, self.monotonic(), source)
            return web.json_response(Challenge(sid, nonce).to_json())
        except MeiboError as e:
            return self._error(e)

    async def h_prove(self, request: web.Request) -> web.Response:
        try:
            proof = Proof.parse(await self._json(request))
            s = self._session(proof.session)
            if s.state is not HState.CHALLENGED:
                raise refusal("session_unknown")
            card, chain = await self.io(self._admit, s.hello)
            self._expire()
            if self.sessions.get(proof.session) is not s:  # replaced or expired while the I/O thread checked
                raise refusal("session_unknown")
            csr_public_key(proof.csr_der)
            ch = challenge_for(self.config.election_id, s.hello.card_serial, proof.session, s.nonce, proof.csr_der,
                               proof.device_pub, s.hello.replace)
            if not verify_card_signature(card.public_key, card.serial, ch, proof.signature):
                self._move(s, "refuse")
                log.warning("card %s: signature does not verify", card.serial.hex().upper())
                raise refusal("card_auth_failed")
            self._move(s, "prove")
            s.proof, s.rolls = proof, chain
            self._drop_card_sessions(s.hello.card_serial, keep=proof.session, waiting_only=False)
            hq_roll_pub = self.hq.roll_pub.read_bytes()
            refs: list[RollRef] = []
            for v in chain:
                path = self._roll_file(v)
                refs.append(RollRef(int(v["version"]), str(v["kind"]), path.stat().st_size,
                                    await self.io(self._sha256, path)))
            return web.json_response(Proven(self.hq.config_path.read_bytes(), hq_roll_pub, self.config.hq_address,
                                            tuple(refs)).to_json())
        except MeiboError as e:
            return self._error(e)

    async def h_roll(self, request: web.Request) -> web.StreamResponse:
        try:
            sid = bytes.fromhex(request.headers.get("X-Meibo-Session", ""))
        except ValueError:
            sid = b""
        try:
            s = self._session(sid)
            if s.state not in H_ROLL_ALLOWED:
                raise refusal("session_unknown")
            version = int(request.match_info["version"])
            entry = next((v for v in s.rolls if int(v["version"]) == version), None)
            if entry is None:
                raise EnrollProtocolError(f"名簿の第 {version} 版はこの登録の対象ではありません", code="bad_request")
        except (MeiboError, ValueError) as e:
            return self._error(e if isinstance(e, MeiboError) else EnrollProtocolError(str(e), code="bad_request"))
        path = self._roll_file(entry)
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                           "Content-Length": str(path.stat().st_size)})
        await resp.prepare(request)
        with open(path, "rb") as f:
            while chunk := f.read(self.settings.roll_chunk):
                await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def h_commit(self, request: web.Request) -> web.Response:
        try:
            sid = session_of(await self._json(request), "commit")
            async with self._commit_lock:
                s = self._session(sid)
                if s.state is HState.ENROLLED and s.certified is not None:
                    # The terminal lost our answer (the link dropped after we committed): the
                    # same session gets the same certificate again, and nothing is done twice.
                    return web.json_response(s.certified.to_json())
                if s.state is not HState.PROVEN:
                    raise refusal("session_unknown")
                try:
                    out: Certified = await self.io(self._commit, s)
                except (EnrollError, IllegalTransition):
                    self._move(s, "refuse")
                    raise
                self._move(s, "commit")
                s.certified = out
                self.enrolled.append(s.hello.terminal)
            return web.json_response(out.to_json())
        except MeiboError as e:
            return self._error(e)

    async def h_abort(self, request: web.Request) -> web.Response:
        try:
            sid = session_of(await self._json(request), "abort")
        except MeiboError as e:
            return self._error(e)
        s = self.sessions.get(sid)
        if s is not None and (s.state, "abort") in H_TABLE:
            self._move(s, "abort")
            self._expire()
        return web.json_response({"code": "aborted"})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body)
        app.router.add_get("/enroll/v1/ca", self.h_ca)
        app.router.add_post("/enroll/v1/hello", self.h_hello)
        app.router.add_post("/enroll/v1/prove", self.h_prove)
        app.router.add_get("/enroll/v1/roll/{version}", self.h_roll)
        app.router.add_post("/enroll/v1/commit", self.h_commit)
        app.router.add_post("/enroll/v1/abort", self.h_abort)
        return app


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class RunningEndpoint:
    service: EnrollService
    runner: web.AppRunner
    port: int
    _tmp: tempfile.TemporaryDirectory[str]

    async def stop(self) -> None:
        await self.runner.cleanup()
        self.service.close()
        self._tmp.cleanup()


async def serve_enrollment(service: EnrollService, host: str, port: int) -> RunningEndpoint:
    """Listen on host:port (0 = any free port) until ``stop()``."""
    tmp = tempfile.TemporaryDirectory(prefix="meibo-enroll-")
    ctx = server_context(service.hq.pki, Path(tmp.name))
    runner = web.AppRunner(service.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ctx, reuse_address=True)
    await site.start()
    return RunningEndpoint(service, runner, bound_port(runner), tmp)

