"""Keeping HQ's revocation list current while HQ serves (失効リストの自動更新).

HQ verifies every terminal certificate against HQDIR/pki/crl.pem (``VERIFY_CRL_CHECK_LEAF``), and
OpenSSL refuses *every* client once the CRL's ``next_update`` has passed. Early voting lasts up to
two weeks, so HQ re-issues the CRL itself, without a restart:

- when less than ``CrlSettings.renew_below`` of its life remains (or it is expired, not yet
  valid, unreadable);
- when a revoked serial is missing from it (``hq revoke`` or re-enrollment changed the registry);
- when an operator asks (``meibo hq crl-renew``, through the admin socket when HQ serves, so there
  is one writer).

The CRL it writes lists every serial of every revoked registry entry, every serial issued to a
terminal whose registry entry is revoked, and every serial already on the CRL (a revocation is
never undone by a re-issue). After the file changes, by this keeper or by another process, the
TLS context is rebuilt and swapped (sync_protocol/tls.py ``ServerTls``): the next handshake uses
the new CRL, established links keep going.

With two HQ nodes on one PostgreSQL store (hq/shared_files.py) each look starts with one step of
the shared files (``shared``): a revocation, an enrollment or a CRL written on the other node is
pulled here, so the registry watcher and the TLS swap below pick it up within one
``check_interval_s``; a CRL this keeper issues is published by the step that ends the look.

Status for ``meibo compliance`` goes to HQDIR/pki/crl-renewal.json (renewal on/off, lifetime,
last issue, serving or not). The CA key must stay on HQ for renewal: without it the keeper logs,
keeps the last CRL, and compliance ① fails.

Owns only the CRL's freshness; the CRL format and signing are provisioning/pki.py's, the TLS
context swap is sync_protocol/tls.py's. Never imports the ledger, the sync session or the CLI.

Time: dates and decisions from the injected ``Clock``. Never imports aiohttp, the ledger or the UI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ground.clock import Clock, SystemClock
from appliance.dirs import HqDir
from ground.errors import MeiboError
from provisioning import pki
from provisioning.pki import CrlInfo, CrlSettings
from hq import shared_files
from hq.shared_files import SharedFiles
from hq.store import read_registry, revoked_serials
from sync_protocol.tls import ServerTls

log = logging.getLogger("meibo.hq.crl")
STATUS_FILE = "crl-renewal.json"
_TIME_REASONS = ("half_life", "expired", "not_yet_valid")
_SHARED_ERROR = "共有ファイルを同期できません（手元のファイルで継続）"


def status_path(hq: HqDir) -> Path:
    return hq.pki / STATUS_FILE


def read_status(hq: HqDir) -> dict[str, Any] | None:
    try:
        data = json.loads(status_path(hq).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def settings_of_status(status: dict[str, Any] | None) -> CrlSettings:
    """The settings HQ last served with (an offline re-issue keeps the same lifetime)."""
    if not status:
        return CrlSettings()
    try:
        return CrlSettings(lifetime=timedelta(seconds=float(status["lifetime_s"])),
                           renew_fraction=float(status.get("renew_fraction", 0.5)),
                           renew=bool(status.get("renew", True)))
    except (KeyError, TypeError, ValueError):
        return CrlSettings()


def serials_to_revoke(hq: HqDir) -> set[int]:
    """Every TLS serial the registry says is revoked (see the module docstring)."""
    out = revoked_serials(hq)
    for terminal, rec in read_registry(hq).items():
        if rec.revoked:
            out |= pki.serials_of_terminal(hq.pki, terminal)
    return out


def _file_sig(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@dataclass
class CheckResult:
    issued: bool
    reason: str | None
    info: CrlInfo | None
    reloaded: bool
    error: str | None = None
    error_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": "ok" if self.error is None else "crl_renew_failed", "issued": self.issued,
                "reason": self.reason, "reloaded": self.reloaded, "error": self.error,
                "next_update": self.info.next_update.isoformat() if self.info else None,
                "revoked": len(self.info.serials) if self.info else None}


class CrlKeeper:
    """One per serving HQ (and one short-lived for an offline ``hq crl-renew``)."""

    def __init__(self, hq: HqDir, settings: CrlSettings = CrlSettings(), clock: Clock | None = None,
                 tls: ServerTls | None = None, shared: SharedFiles | None = None) -> None:
        self.hq = hq
        self.shared = shared  # the files shared with the other HQ node (module doc); None on SQLite
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.tls = tls
        self._crl_sig = _file_sig(pki.PkiPaths(hq.pki).crl)  # what ``tls`` was built from
        self._reg_sig: tuple[int, int, int] | None = None
        self._must: set[int] = set()
        self._info_cache: tuple[tuple[int, int, int] | None, CrlInfo | None] | None = None
        self._lock = asyncio.Lock()
        self._last_error: str | None = None
        self.issued = 0
        self.status: dict[str, Any] = {}
        self.quiet = False  # an operator's one-off re-issue: the error is raised, not logged

    # --- one look (synchronous; a worker thread runs it for the serving HQ) -------------------
    def _sync_shared(self) -> None:
        if self.shared is None:
            return
        try:
            self.shared.sync()
        except MeiboError as e:  # keep serving with the files we have; said once, in the status too
            self._note_error(f"{_SHARED_ERROR}: {e.message}")
            return
        if self._last_error is not None and self._last_error.startswith(_SHARED_ERROR):
            self._last_error = None  # the store answers again
            self._write_status(self.clock)

    def check(self, force: str | None = None, clock: Clock | None = None) -> CheckResult:
        clock = clock or self.clock
        p = pki.PkiPaths(self.hq.pki)
        self._sync_shared()
        reg_sig = _file_sig(self.hq.root / "terminals.json")
        if reg_sig != self._reg_sig or force:
            try:
                self._must = serials_to_revoke(self.hq)
                self._reg_sig = reg_sig
            except (OSError, ValueError, KeyError, TypeError) as e:
                self._note_error(f"端末の登録簿を読めません: {e}")
        sig = _file_sig(p.crl)
        if self._info_cache is not None and self._info_cache[0] == sig and sig is not None:
            info = self._info_cache[1]  # unchanged file: no need to parse and verify it again
        else:
            info = pki.read_crl(self.hq.pki)
            self._info_cache = (sig, info)
        reason = force or pki.crl_renewal_due(info, clock.now(), self.settings, self._must)
        if reason in _TIME_REASONS and not self.settings.renew:
            reason = None
        issued, error, error_code = False, None, None
        if reason is not None:
            keep = set(info.serials) if info else set()
            try:
                info = pki.write_crl(self.hq.pki, clock, self._must | keep, self.settings.lifetime)
                issued = True
                self.issued += 1
                self._last_error = None
                log.info("CRL re-issued (%s): %d revoked, next update %s", reason, len(info.serials),
                         info.next_update.isoformat())
                self._write_status(clock, reason=reason, info=info)
            except MeiboError as e:
                error, error_code = e.message, e.code
                self._note_error(f"失効リストを再発行できません（{reason}）: {e.message}")
        if issued:
            self._sync_shared()  # the new CRL (and its status) to the other node now
        reloaded = self._reload_if_changed(p.crl)
        return CheckResult(issued, reason, info, reloaded, error, error_code)

    def _reload_if_changed(self, crl_path: Path) -> bool:
        sig = _file_sig(crl_path)
        if self.tls is None or sig == self._crl_sig:
            return False
        try:
            self.tls.reload()
        except (OSError, ssl.SSLError) as e:  # keep serving with the context we have
            self._note_error(f"TLS 設定を読み直せません（前の設定で継続）: {e}")
            return False
        self._crl_sig = sig
        return True

    def _note_error(self, message: str) -> None:
        """Log a new problem once and put it in the status file (compliance ① shows it)."""
        changed = message != self._last_error
        self._last_error = message
        if changed and not self.quiet:
            log.error("%s", message)
            self._write_status(self.clock)

    def _write_status(self, clock: Clock, *, serving: bool | None = None, reason: str | None = None,
                      info: CrlInfo | None = None) -> None:
        s = self.status or {}
        s.update({"renew": self.settings.renew, "lifetime_s": self.settings.lifetime.total_seconds(),
                  "renew_fraction": self.settings.renew_fraction,
                  "check_interval_s": self.settings.check_interval_s, "last_error": self._last_error})
        if serving is not None:
            s["serving"] = serving
            s["serving_changed_at"] = clock.now().isoformat(timespec="seconds")
            s["pid"] = os.getpid()
        if info is not None:
            s.update({"last_issued_at": clock.now().isoformat(timespec="seconds"), "last_reason": reason,
                      "next_update": info.next_update.isoformat(), "revoked": len(info.serials)})
        self.status = s
        try:
            # own temporary name: a stopping HQ and a look still running in its thread may both write
            pki.replace_file(status_path(self.hq), json.dumps(s, ensure_ascii=False, indent=1).encode("utf-8"))
        except OSError as e:
            log.error("更新状況を書けません: %s", e)

    # --- while HQ serves ----------------------------------------------------------------------
    async def tick(self, force: str | None = None, clock: Clock | None = None) -> CheckResult:
        async with self._lock:  # one writer inside this process; the file swap is atomic across processes
            return await asyncio.to_thread(self.check, force, clock)

    async def run(self) -> None:
        """Check at once, then every ``check_interval_s``, until cancelled (HqNode.stop)."""
        self.status = read_status(self.hq) or {}
        self._write_status(self.clock, serving=True)
        try:
            while True:
                await self.tick()
                await asyncio.sleep(self.settings.check_interval_s)
        finally:
            self._write_status(self.clock, serving=False)
            await asyncio.to_thread(self._sync_shared)  # what changed here since the last look, before we stop

    async def renew_now(self, clock: Clock | None = None) -> dict[str, Any]:
        """The admin op behind ``meibo hq crl-renew`` on a serving HQ."""
        res = await self.tick("operator", clock)
        if res.error is not None:
            raise pki.PkiError(res.error, code=res.error_code or "crl_renew_failed")
        return {**res.as_dict(), "via": "hq"}


def renew_offline(hq: HqDir, clock: Clock) -> dict[str, Any]:
    """``meibo hq crl-renew`` with HQ stopped: re-issue now with the lifetime HQ last served with."""
    status = read_status(hq)
    keeper = CrlKeeper(hq, settings_of_status(status), clock)
    keeper.status = status or {}
    keeper.quiet = True
    with shared_files.edit(hq):  # the newest registry and CRL first; the new CRL published after
        res = keeper.check("operator")
    if res.error is not None:
        raise pki.PkiError(res.error, code=res.error_code or "crl_renew_failed")
    return {**res.as_dict(), "via": "direct"}
