"""Wiping a terminal after the election (``meibo terminal wipe``): the domain verb, the CLI only
parses and prints.

- Only when HQ has acknowledged the whole journal (``sync.acked_seq`` = journal head), or when an
  export file passes the check the caller injects (sync_protocol/journal_file.py
  ``verify_complete_export``: this terminal's complete, signed export; this package may not import
  the protocol, so the CLI passes it in).
- Destroys the sealed key first (then whatever of the store survives on flash is unreadable), the
  runtime key, the store (and its WAL/SHM), the TLS and device keys, and writes a wipe record
  (JSON). The record lists as ``destroyed`` only files verified gone afterwards; any file that could
  not be shredded goes under ``not_destroyed`` / ``not_overwritten`` and the wipe is refused
  (``wipe_incomplete``).

Never imports the protocol, HQ, the screens or the CLI: the export check comes in as an argument.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from appliance import atrest
from appliance.dirs import TerminalDir, write_atomic
from appliance.journal import Head
from appliance.terminal import Terminal
from ground.clock import Clock
from ground.errors import ApplianceError

META_ACKED = "sync.acked_seq"  # written by sync_protocol/client.py when HQ acknowledges


class WipeRefused(ApplianceError):
    code = "wipe_refused"


class ExportMismatch(ApplianceError):
    code = "export_mismatch"


class WipeIncomplete(ApplianceError):
    """Something could not be shredded: the wipe record lists it under ``not_destroyed`` /
    ``not_overwritten``; fix the cause (permissions, a read-only or failing disk) and remove it."""

    code = "wipe_incomplete"


class ExportCheck(Protocol):
    def __call__(self, path: Path, *, election: str, terminal: str, device_pub: Path,
                 head: Head) -> dict[str, Any]:
        """Verify ``path`` is this terminal's complete, signed export up to ``head``; return what
        the wipe record keeps of it, or raise ``ExportMismatch``."""
        ...


@dataclass
class _Shredded:
    """What the wipe record may claim: only files verified gone afterwards count as destroyed."""

    destroyed: list[str] = field(default_factory=list)
    not_destroyed: list[dict[str, str]] = field(default_factory=list)  # still there afterwards
    not_overwritten: list[dict[str, str]] = field(default_factory=list)  # gone, but not overwritten first

    def settle(self, path: Path, error: OSError | None, *, overwrite_error: OSError | None = None) -> None:
        if os.path.lexists(path):  # the claim is checked, not assumed
            self.not_destroyed.append({"file": str(path), "error": _why(error) or "消去後もファイルが残っています"})
            return
        self.destroyed.append(str(path))
        if overwrite_error is not None:
            self.not_overwritten.append({"file": str(path), "error": _why(overwrite_error)})


def _why(e: OSError | None) -> str:
    return "" if e is None else (e.strerror or str(e))


def _shred(path: Path, out: _Shredded) -> None:
    """Overwrite a file with zeros, fsync, unlink, and record what really happened. (On flash the
    old blocks may survive: that is why the store is encrypted and the key is destroyed first.)
    A missing file is not recorded; a failed overwrite still unlinks (better gone than kept) but is
    recorded, never passed over."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as e:
        out.settle(path, e)
        return
    overwrite_error: OSError | None = None
    try:
        with open(path, "r+b") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 20)
                f.write(b"\0" * n)
                left -= n
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        overwrite_error = e
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        out.settle(path, e)
        return
    out.settle(path, None, overwrite_error=overwrite_error)


def wipe(tdir: TerminalDir, clock: Clock, export: Path | None = None, *,
         check_export: ExportCheck | None = None) -> dict[str, Any]:
    """Wipe after the election: only when HQ acknowledged the whole journal, or when ``export``
    passes ``check_export`` (the caller's: the journal-file check lives above this package).
    Returns the wipe record; raises WipeRefused, ExportMismatch or WipeIncomplete."""
    if export is not None and check_export is None:
        raise ValueError("wipe(export=...) needs check_export")
    ident = tdir.identity()
    with Terminal.open(tdir, clock) as term:  # station_closed when it is not open
        head = term.head()
        acked = int(term.store.get_meta(META_ACKED, "0") or 0)
        verified = None
        if export is not None:
            assert check_export is not None
            verified = check_export(export, election=term.config.election_id, terminal=term.terminal_id,
                                    device_pub=tdir.device_pub, head=head)
        elif acked != head.seq:
            raise WipeRefused(f"本部が受付記録の全部を受け取ったことを確認できません（本部確認 {acked} 番 / 記録 {head.seq} 番）。"
                              "同期するか、meibo terminal export で書き出して --force-after-export FILE を指定してください",
                              acked_seq=acked, head_seq=head.seq)
        encrypted = term.store.encrypted
    record: dict[str, Any] = {
        "terminal": ident.terminal_id, "station": ident.station_id, "election": ident.election_id,
        "wiped_at": clock.now().isoformat(timespec="seconds"), "journal_head_seq": head.seq,
        "journal_head_hash": head.hash.hex(), "acked_seq": acked, "forced": export is not None,
        "encrypted": encrypted,
    }
    if verified is not None:
        record["export"] = verified
    out = _Shredded()
    # the key first: once it is gone, whatever of the store survives on flash is unreadable
    try:
        atrest.close_station(tdir)
    except OSError as e:  # the runtime key in tmpfs: named in the record, the rest still goes
        out.not_destroyed.append({"file": str(e.filename or "実行時の鍵"), "error": _why(e)})
    sealed = atrest.sealed_path(tdir)
    try:
        if atrest.destroy_sealed(tdir):
            out.settle(sealed, None)
    except OSError as e:
        out.settle(sealed, e)
    for suffix in ("", "-wal", "-shm", "-journal"):
        _shred(Path(str(tdir.store_path) + suffix), out)
    for p in [tdir.device_key, tdir.root / "keys" / "supervisor.pin", *sorted(tdir.tls.glob("*"))]:
        if p.is_file():
            _shred(p, out)
    record["destroyed"] = out.destroyed
    record["not_destroyed"] = out.not_destroyed
    record["not_overwritten"] = out.not_overwritten
    record["complete"] = not out.not_destroyed and not out.not_overwritten
    rec_path = tdir.root / "wipe-record.json"
    write_atomic(rec_path, json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
    if not record["complete"]:
        parts = [f"{n['file']}（{n['error']}）" for n in out.not_destroyed]
        parts += [f"{n['file']}（上書きできずに削除: {n['error']}）" for n in out.not_overwritten]
        raise WipeIncomplete("次のファイルを確実に消去できませんでした: " + "、".join(parts)
                             + f"。原因を取り除いて消去し直してください（記録: {rec_path}）",
                             not_destroyed=[n["file"] for n in out.not_destroyed],
                             not_overwritten=[n["file"] for n in out.not_overwritten], record=str(rec_path))
    return record
