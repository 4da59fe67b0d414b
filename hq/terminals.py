"""HQ's register of terminals: create HQ's directory, enroll a terminal locally, revoke one.

``terminals.json`` is the registry (``hq/store.py`` reads it as ``read_registry``); every change
to it is made under ``HqDir.registry_lock()``. A revocation reaches the CRL by one writer: the
serving HQ re-issues it through its admin socket (``hq/admin_client.py``); with HQ stopped, it is
written here.

With two HQ nodes on one PostgreSQL store, every change here is made inside
``shared_files.edit`` (hq/shared_files.py): the newest registry, CRL and CA register are pulled
first, so the change is made to them, and published after, so the other node serves by it; a
store that cannot be reached before the change refuses it (``store_unreachable``, nothing changed).
``store_url`` names the store where election.toml's ``[hq] store`` does not.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

from appliance import atrest, journal
from appliance.dirs import HqDir, TerminalDir, TerminalIdentity, write_atomic
from appliance.staging import Staging, ed25519_keypair, fresh_dir
from appliance.store import Store
from appliance.terminal import write_pin
from ground.clock import Clock
from ground.config import load_config
from ground.errors import ApplianceError, MeiboError, UsageError
from ground.model import ElectionConfig, HQ_TERMINAL, StationId, TerminalId
from hq import shared_files
from hq.admin_client import ask_hq
from hq.crl_keeper import renew_offline
from hq.store import read_registry, retire_identity, revoked_serials, update_registry
from provisioning import pki

TERMINAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def hq_init(hq_root: Path, config_path: Path, clock: Clock) -> ElectionConfig:
    """``meibo hq init``: HQ's directory from election.toml, with the roll key and the election CA."""
    config = load_config(config_path)  # ConfigInvalid names every bad key; nothing created yet
    fresh_dir(hq_root)
    stage = Staging(hq_root)
    try:
        hq = HqDir(stage.path)
        write_atomic(hq.config_path, config_path.read_bytes())
        ed25519_keypair(hq.roll_key, hq.roll_pub)
        write_atomic(stage.path / "terminals.json", b"[]\n")
        pki.create_election_pki(hq.pki, config, clock)
        stage.commit()
    except BaseException:
        stage.discard()
        raise
    return config


def terminals_path(hq: HqDir) -> Path:
    return hq.root / "terminals.json"


def read_terminals(hq: HqDir) -> list[dict[str, Any]]:
    """HQ's record of enrolled terminals: {terminal, station, device_pub, enrolled_at, revoked}."""
    p = terminals_path(hq)
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ApplianceError(f"{p} が壊れています: {e}", code="terminals_corrupt")
    if not isinstance(data, list):
        raise ApplianceError(f"{p} が壊れています", code="terminals_corrupt")
    return data


def enroll_local(hq_root: Path, terminal: str, station: str, out: Path, clock: Clock, *,
                 replace: bool = False, pin: str | None = None, store_url: str | None = None) -> dict[str, Any]:
    """``meibo hq enroll-local``: a terminal directory made at HQ without a card (identity, device
    key, TLS certificate, empty journal; the store sealed under ``pin`` when given). ``replace``
    keeps the old directory beside the new one and revokes every earlier certificate at once."""
    hq = HqDir(hq_root).require()
    with shared_files.edit(hq, store_url):  # the other node's enrollments first; this one published after
        return _enroll_local(hq, terminal, station, out, clock, replace=replace, pin=pin)


def _enroll_local(hq: HqDir, terminal: str, station: str, out: Path, clock: Clock, *,
                  replace: bool, pin: str | None) -> dict[str, Any]:
    config = hq.config()
    if not TERMINAL_ID.match(terminal) or terminal == HQ_TERMINAL:
        raise UsageError(f"端末IDは英数字と - _ . で 32 文字まで（HQ は使えません）: {terminal!r}",
                         code="terminal_invalid")
    try:
        config.station(station)
    except KeyError:
        known = "、".join(s.station_id for s in config.stations)
        raise UsageError(f"投票所 {station} は election.toml にありません（あるのは {known}）", code="station_unknown")
    tdir = TerminalDir(out)
    terminals = read_terminals(hq)
    active = [t for t in terminals if t.get("terminal") == terminal and not t.get("revoked")]
    if not replace:
        if tdir.identity_path.exists():
            raise UsageError(f"この端末ディレクトリはすでに登録済みです（やり直すときは --replace）: {out}",
                             code="already_enrolled")
        if active:
            raise UsageError(f"端末 {terminal} はすでに登録されています（やり直すときは --replace）",
                             code="terminal_already_enrolled")
    if not (replace and out.exists()):
        fresh_dir(out)
    now = clock.now()
    stage = Staging(out)
    try:
        t = TerminalDir(stage.path)
        write_atomic(t.config_path, hq.config_path.read_bytes())
        t.write_identity(TerminalIdentity(TerminalId(terminal), StationId(station), config.election_id,
                                          config.hq_address))
        device_pub = ed25519_keypair(t.device_key, t.device_pub)
        write_atomic(t.hq_roll_pub, hq.roll_pub.read_bytes())
        key = None
        if pin is not None:
            write_pin(t, pin)
            # personal data at rest: the store is SQLCipher under a data key sealed by the PIN
            key = atrest.seal_new(t, pin)
        store = Store(t.store_path, key=key)
        try:
            journal.init(store, config.election_id, TerminalId(terminal))
        finally:
            store.close()
        serial = pki.issue_local_tls(hq.pki, t.tls, terminal, station, config, clock)
        if replace and out.exists():
            # never destroy a journal: the old directory is kept beside the new one
            os.replace(out, out.with_name(f"{out.name}.replaced-{now:%Y%m%dT%H%M%S}"))
        stage.commit()
    except BaseException:
        stage.discard()
        raise
    entry: dict[str, Any] = {"terminal": terminal, "station": station, "device_pub": device_pub.hex(),
                             "enrolled_at": now.isoformat(), "revoked": False}
    # As the card enrollment does (hq/enroll_server.py): the entry records its
    # certificate, and every earlier certificate of the terminal is revoked at once, also those
    # issued before entries recorded serials (the CA's register of issued serials has them).
    entry["tls_serials"] = [serial]
    entry["enrolled_by"] = "local"
    with hq.registry_lock():
        terminals = read_terminals(hq)
        old = retire_identity(terminals, terminal, pki.serials_of_terminal(hq.pki, terminal) - {serial},
                              revoked_reason="再登録（enroll-local --replace）",
                              revoked_at=now.isoformat(timespec="seconds"))
        terminals.append(entry)
        write_atomic(terminals_path(hq), json.dumps(terminals, ensure_ascii=False, indent=1).encode("utf-8"))
    if old:
        publish_revocation(hq, clock)
    return entry


def publish_revocation(hq: HqDir, clock: Clock) -> None:
    """Put the revoked serials on the CRL now, by one writer as ``hq revoke`` does: the serving
    HQ re-issues it (its next handshakes refuse the old certificate before this returns); with
    HQ stopped, it is re-issued here, keeping every serial already listed."""
    try:
        asyncio.get_running_loop()
        in_loop = True  # called from inside an event loop: asyncio.run cannot ask the HQ from here
    except RuntimeError:
        in_loop = False
    if in_loop or ask_hq(hq, {"op": "crl_renew", "now": None}) is None:
        # a serving HQ notices the new file on its next look (crl_keeper.py) and swaps it in
        renew_offline(hq, clock)


def revoke_terminal(hq_root: Path, terminal: str, reason: str, clock: Clock, now: str | None = None,
                    store_url: str | None = None) -> dict[str, Any]:
    """``meibo hq revoke``: the registry first (a serving HQ refuses the terminal's sessions from
    that moment), then the CRL; both published to the other HQ node (module doc). ``now`` is
    passed on to a serving HQ (the tests' clock)."""
    hq = HqDir(hq_root).require()
    with shared_files.edit(hq, store_url):
        return _revoke_terminal(hq, terminal, reason, clock, now)


def _revoke_terminal(hq: HqDir, terminal: str, reason: str, clock: Clock, now: str | None) -> dict[str, Any]:
    reg = read_registry(hq)
    tid = TerminalId(terminal)
    if tid not in reg:
        raise UsageError(f"端末 {terminal} は登録されていません", code="terminal_unknown")
    if not reason.strip():
        raise UsageError("失効の理由を入力してください", code="reason_required")
    # The registry first: a serving HQ refuses the terminal's sessions from that moment. The
    # entry records every serial the CA issued to the terminal (an enroll-local entry from before
    # entries recorded serials lists none), so each re-issue of the CRL keeps them all.
    update_registry(hq, terminal, revoked=True, revoked_reason=reason,
                    revoked_at=clock.now().isoformat(timespec="seconds"),
                    tls_serials=sorted(set(reg[tid].serials) | pki.serials_of_terminal(hq.pki, terminal)))
    # Then the CRL, by one writer: the serving HQ re-issues it (and its handshakes use it before
    # this command returns); with HQ stopped, it is written here.
    if ask_hq(hq, {"op": "crl_renew", "now": now}) is None:
        # every serial of every revoked identity (a re-enrolled terminal's old ones too), plus this one's
        revoked = revoked_serials(hq) | set(reg[tid].serials)
        revoked |= pki.serials_of_terminal(hq.pki, terminal)
        try:
            pki.write_crl(hq.pki, clock, revoked)
        except MeiboError:
            pass  # CA key kept offline: the registry still refuses the terminal at once
    return {"code": "ok", "terminal": terminal, "reason": reason}
