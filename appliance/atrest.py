"""Personal data at rest (保存データの保護): the terminal store's data key, sealed and unlocked.

Rules kept here:
- Each terminal has one random 256-bit *data key* for its SQLCipher store (appliance/store.py).
  On the terminal's disk it exists only *sealed*: ``TDIR/keys/store.sealed`` is JSON holding a list
  of *wrappings*, each the data key encrypted (XSalsa20-Poly1305, nacl ``SecretBox``) under a key
  derived from one secret. Two kinds: ``pin`` (supervisor PIN → Argon2id) and ``pin+card`` (the
  same Argon2id output combined with the enrolled card's answer to a stored challenge, DERIVE
  AT-REST KEY in provisioning/applet.py, given only after the card's own PIN). A ``pin+card``
  wrapping is added to an existing directory without touching the store (the data key does not
  change); removing the ``pin`` wrapping then makes the card necessary. Directories sealed before
  (``pin`` only) keep opening with the PIN alone: that is the migration path.
- Why the card: a copied disk holds everything an offline PIN search needs for ``pin``; for
  ``pin+card`` it also needs the card's answer, which only the card computes (its key never
  leaves it) and only after its PIN, with 3 tries before it locks.
- ``open_station`` unwraps the data key with the PIN and puts it in a *runtime* directory that a
  reboot clears: ``/dev/shm/meibo-<key check>/key`` (directory 0700, file 0600), or under
  ``$MEIBO_RUNTIME_DIR`` when set (tests, systems without /dev/shm). Never on disk. The name is
  the data key's public check value (``key_check``), not the TDIR path: a moved or copied
  directory (a disk image kept for forensics) opens with the same unlock, and the name says
  nothing about where the terminal's files are.
- Every later process (CLI, sync agent, kiosk) finds the key there by the TDIR alone; a station
  that was never opened, was closed, or was rebooted is refused with ``station_closed``.
- A wrong PIN counts against ``max_tries`` (stored in the sealed file, reset by a right PIN);
  after that the PIN wrapping is refused with ``pin_locked``. The counter stops guessing at the
  booth; it cannot stop an offline attack on a copied file, which is why Argon2id is used.
- A terminal directory without ``store.sealed`` (enrolled without a PIN: development, tests of
  other parts) has a plain store; ``meibo compliance`` reports it.

Crypto sits in this one module (STYLE rule 5): seal/unseal and nothing else. Every unwrap failure
is one error. Never imports the store, the network or the UI. Randomness is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.dirs import TerminalDir, write_private
from ground.errors import ApplianceError, StationClosed, UsageError

KEY_BYTES = 32
SEALED_VERSION = 1
RUNTIME_ENV = "MEIBO_RUNTIME_DIR"
DEFAULT_RUNTIME_BASE = Path("/dev/shm")

RandomBytes = Callable[[int], bytes]


class PinWrong(ApplianceError):
    code = "pin_wrong"


class PinLocked(ApplianceError):
    code = "pin_locked"


class SealedKeyCorrupt(ApplianceError):
    code = "sealed_key_corrupt"


class CardRequired(ApplianceError):
    code = "card_required"


# The enrolled card, already selected and past its PIN: challenge (32 bytes) → its 32-byte answer.
# provisioning/card_client.py ``CardClient.derive_atrest_key`` over a real or fake reader.
CardResponder = Callable[[bytes], bytes]
CARD_CHALLENGE = 32


@dataclass(frozen=True)
class AtRestSettings:
    """Argon2id cost (kept with each wrapping, so it can be raised later) and the try limit."""

    opslimit: int = 2  # nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
    memlimit: int = 64 * 1024 * 1024  # MEMLIMIT_INTERACTIVE: ~0.1 s on the terminal
    max_tries: int = 10
    runtime_base: Path | None = field(default=None)  # None: $MEIBO_RUNTIME_DIR or /dev/shm


DEFAULT_SETTINGS = AtRestSettings()


def sealed_path(tdir: TerminalDir) -> Path:
    return tdir.root / "keys" / "store.sealed"


def is_protected(tdir: TerminalDir) -> bool:
    """True when the terminal's store is encrypted (a sealed key exists)."""
    return sealed_path(tdir).exists()


def store_is_protected(store_path: Path) -> bool:
    """Same, from the store file's path (``TDIR/store.db``)."""
    return (Path(store_path).parent / "keys" / "store.sealed").exists()


def key_check(key: bytes) -> str:
    """A public check value of the data key: tells a stale runtime key from the right one."""
    return hashlib.blake2b(key, digest_size=16, person=b"meibo-keycheck").hexdigest()


def _derive(pin: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    from nacl.pwhash import argon2id

    return bytes(argon2id.kdf(KEY_BYTES, pin.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit))


def _check_pin_shape(pin: str) -> None:
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise UsageError("PIN は 4〜12 桁の数字にしてください", code="pin_invalid")


def pin_wrapping(key: bytes, pin: str, randbytes: RandomBytes, settings: AtRestSettings) -> dict[str, Any]:
    from nacl.secret import SecretBox

    _check_pin_shape(pin)
    salt = randbytes(16)
    kek = _derive(pin, salt, settings.opslimit, settings.memlimit)
    box = SecretBox(kek).encrypt(key, randbytes(SecretBox.NONCE_SIZE))
    return {"kind": "pin", "kdf": "argon2id", "opslimit": settings.opslimit, "memlimit": settings.memlimit,
            "salt": salt.hex(), "box": bytes(box).hex(), "failures": 0}


def _card_kek(pin_kek: bytes, card_answer: bytes) -> bytes:
    """Both secrets are needed: a keyed BLAKE2b of the card's answer under the PIN-derived key."""
    if len(card_answer) != 32:
        raise ValueError("card answer must be 32 bytes")
    return hashlib.blake2b(card_answer, key=pin_kek, digest_size=KEY_BYTES, person=b"meibo-pin+card").digest()


def card_wrapping(key: bytes, pin: str, card_serial: str, card: CardResponder, randbytes: RandomBytes,
                  settings: AtRestSettings) -> dict[str, Any]:
    """The data key under PIN (Argon2id) *and* the card's answer to a fresh random challenge."""
    from nacl.secret import SecretBox

    _check_pin_shape(pin)
    salt, challenge = randbytes(16), randbytes(CARD_CHALLENGE)
    pin_kek = _derive(pin, salt, settings.opslimit, settings.memlimit)
    kek = _card_kek(pin_kek, card(challenge))
    box = SecretBox(kek).encrypt(key, randbytes(SecretBox.NONCE_SIZE))
    return {"kind": "pin+card", "kdf": "argon2id", "opslimit": settings.opslimit, "memlimit": settings.memlimit,
            "salt": salt.hex(), "card_serial": card_serial, "challenge": challenge.hex(),
            "box": bytes(box).hex(), "failures": 0}


def seal_new(tdir: TerminalDir, pin: str, *, randbytes: RandomBytes = os.urandom,
             settings: AtRestSettings = DEFAULT_SETTINGS) -> bytes:
    """Make a fresh data key, write it sealed under ``pin``; return the key (for the new store)."""
    if sealed_path(tdir).exists():
        raise UsageError(f"保存データの鍵はすでにあります: {sealed_path(tdir)}", code="already_sealed")
    key = randbytes(KEY_BYTES)
    if len(key) != KEY_BYTES:
        raise ValueError("randbytes returned the wrong length")
    doc = {"version": SEALED_VERSION, "key_check": key_check(key),
           "wrappings": [pin_wrapping(key, pin, randbytes, settings)]}
    _write_sealed(tdir, doc)
    return key


def _write_sealed(tdir: TerminalDir, doc: dict[str, Any]) -> None:
    write_private(sealed_path(tdir), json.dumps(doc, indent=1).encode("utf-8"))


def read_sealed(tdir: TerminalDir) -> dict[str, Any]:
    p = sealed_path(tdir)
    try:
        doc = json.loads(p.read_text("utf-8"))
        if (not isinstance(doc, dict) or doc.get("version") != SEALED_VERSION
                or not isinstance(doc.get("wrappings"), list) or not isinstance(doc.get("key_check"), str)):
            raise ValueError("shape")
        return doc
    except FileNotFoundError:
        raise UsageError(f"この端末には保存データの鍵がありません（PIN 付きで登録されていません）: {tdir.root}",
                         code="not_protected") from None
    except (ValueError, UnicodeDecodeError):
        raise SealedKeyCorrupt(f"保存データの鍵ファイルが壊れています: {p}") from None


def wrapping_kinds(tdir: TerminalDir) -> list[str]:
    return [str(w.get("kind")) for w in read_sealed(tdir)["wrappings"] if isinstance(w, dict)]


def needs_card(tdir: TerminalDir) -> bool:
    """True when the PIN alone no longer opens this terminal's store (only ``pin+card`` left)."""
    kinds = wrapping_kinds(tdir)
    return "pin+card" in kinds and "pin" not in kinds


def card_challenge(tdir: TerminalDir) -> tuple[str, bytes] | None:
    """(card serial, challenge) of the ``pin+card`` wrapping, for the caller that talks to the card."""
    for w in read_sealed(tdir)["wrappings"]:
        if isinstance(w, dict) and w.get("kind") == "pin+card":
            try:
                return str(w["card_serial"]), bytes.fromhex(w["challenge"])
            except (KeyError, ValueError, TypeError):
                raise SealedKeyCorrupt(f"保存データの鍵ファイルが壊れています: {sealed_path(tdir)}") from None
    return None


def unseal(tdir: TerminalDir, pin: str, *, card: CardResponder | None = None,
           settings: AtRestSettings = DEFAULT_SETTINGS) -> bytes:
    """The data key, unwrapped with the supervisor PIN (and the enrolled card when one is given
    and the terminal has a card wrapping). Counts wrong PINs (``PinWrong``/``PinLocked``).

    Which wrapping: ``pin+card`` when ``card`` is given and one exists; else ``pin`` (directories
    sealed before the card wrapping); ``CardRequired`` when only ``pin+card`` is left."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    doc = read_sealed(tdir)
    by_kind = {str(w.get("kind")): w for w in doc["wrappings"] if isinstance(w, dict)}
    if card is not None and "pin+card" in by_kind:
        kind = "pin+card"
    elif "pin" in by_kind:
        kind = "pin"
    elif "pin+card" in by_kind:
        raise CardRequired("この端末は登録カードと PIN の両方で開設します。カードを差し込んでください")
    else:
        raise UsageError("この端末には PIN で開設する設定がありません", code="no_pin_wrapping")
    w = by_kind[kind]
    failures = int(w.get("failures", 0))
    if failures >= settings.max_tries:
        raise PinLocked(f"PIN を {settings.max_tries} 回間違えたため、PIN での開設は停止されています"
                        "（選挙管理委員会に連絡してください）", tries_left=0)
    try:
        kek = _derive(pin, bytes.fromhex(w["salt"]), int(w["opslimit"]), int(w["memlimit"]))
        if kind == "pin+card":
            assert card is not None
            kek = _card_kek(kek, card(bytes.fromhex(w["challenge"])))
        key = bytes(SecretBox(kek).decrypt(bytes.fromhex(w["box"])))
        ok = len(key) == KEY_BYTES and hmac.compare_digest(key_check(key), doc["key_check"])
    except (CryptoError, ValueError, KeyError, TypeError):
        ok, key = False, b""
    if not ok:
        w["failures"] = failures + 1
        _write_sealed(tdir, doc)
        left = settings.max_tries - failures - 1
        what = "PIN またはカード" if kind == "pin+card" else "PIN"
        if left <= 0:
            raise PinLocked(f"{what}が違います。{settings.max_tries} 回間違えたため、PIN での開設は停止されました"
                            "（選挙管理委員会に連絡してください）", tries_left=0)
        raise PinWrong(f"{what}が違います（あと {left} 回まで）", tries_left=left)
    if failures:
        w["failures"] = 0
        _write_sealed(tdir, doc)
    return key


def add_card_wrapping(tdir: TerminalDir, pin: str, card_serial: str, card: CardResponder, *,
                      drop_pin_only: bool = True, randbytes: RandomBytes = os.urandom,
                      settings: AtRestSettings = DEFAULT_SETTINGS) -> list[str]:
    """Seal the same data key under PIN + this card (replacing an earlier card's wrapping); with
    ``drop_pin_only`` remove the PIN-only wrapping, so that the card becomes necessary. The PIN
    must open the store now (with ``card`` if only a card wrapping is left). Returns the kinds."""
    key = unseal(tdir, pin, card=card, settings=settings)
    doc = read_sealed(tdir)
    new = card_wrapping(key, pin, card_serial, card, randbytes, settings)
    keep = [w for w in doc["wrappings"] if isinstance(w, dict) and w.get("kind") != "pin+card"
            and not (drop_pin_only and w.get("kind") == "pin")]
    doc["wrappings"] = keep + [new]
    _write_sealed(tdir, doc)
    return [str(w.get("kind")) for w in doc["wrappings"]]


# ---------------------------------------------------------------------------------------------
# the runtime (tmpfs) copy of the unlocked key

def runtime_base(settings: AtRestSettings = DEFAULT_SETTINGS) -> Path:
    if settings.runtime_base is not None:
        return settings.runtime_base
    env = os.environ.get(RUNTIME_ENV)
    return Path(env) if env else DEFAULT_RUNTIME_BASE


def runtime_dir(tdir: TerminalDir, settings: AtRestSettings = DEFAULT_SETTINGS) -> Path:
    """Where this terminal's unlocked key lives while the station is open (needs the sealed file)."""
    check = read_sealed(tdir)["key_check"]
    if not (len(check) == 32 and all(ch in "0123456789abcdef" for ch in check)):
        raise SealedKeyCorrupt(f"保存データの鍵ファイルが壊れています: {sealed_path(tdir)}")
    return runtime_base(settings) / f"meibo-{check[:24]}"


def _runtime_key_path(tdir: TerminalDir, settings: AtRestSettings) -> Path:
    return runtime_dir(tdir, settings) / "key"


def install_runtime_key(tdir: TerminalDir, key: bytes, settings: AtRestSettings = DEFAULT_SETTINGS) -> Path:
    """Put the unlocked key where later processes find it (tmpfs; 0700 dir, 0600 file)."""
    d = runtime_dir(tdir, settings)
    d.parent.mkdir(parents=True, exist_ok=True)
    try:
        d.mkdir(mode=0o700)
    except FileExistsError:
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise UsageError(f"鍵の一時ディレクトリが不正です: {d}", code="runtime_dir_unsafe")
        os.chmod(d, 0o700)
    p = d / "key"
    tmp = d / "key.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    os.replace(tmp, p)
    return p


def unlocked_key(tdir: TerminalDir, settings: AtRestSettings = DEFAULT_SETTINGS) -> bytes | None:
    """The data key if the station is open (and the runtime key is this terminal's), else None."""
    try:
        doc = read_sealed(tdir)
    except UsageError:
        return None
    try:
        fd = os.open(_runtime_key_path(tdir, settings), os.O_RDONLY | os.O_NOFOLLOW)
    except (OSError, SealedKeyCorrupt):
        return None
    try:
        key = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(key) != KEY_BYTES or not hmac.compare_digest(key_check(key), doc["key_check"]):
        return None
    return key


def store_key(tdir: TerminalDir, settings: AtRestSettings = DEFAULT_SETTINGS) -> bytes | None:
    """The key to open the store with: None for an unprotected terminal; refused when closed."""
    if not is_protected(tdir):
        return None
    key = unlocked_key(tdir, settings)
    if key is None:
        raise StationClosed("投票所が開設されていません（meibo terminal open TDIR --pin-file F で開設してください）",
                            tdir=str(tdir.root))
    return key


def open_station(tdir: TerminalDir, pin: str, settings: AtRestSettings = DEFAULT_SETTINGS, *,
                 card: CardResponder | None = None) -> Path:
    """Unseal with the PIN (and card) and make the key available until ``close_station`` or a reboot."""
    key = unseal(tdir, pin, card=card, settings=settings)
    return install_runtime_key(tdir, key, settings)


def close_station(tdir: TerminalDir, settings: AtRestSettings = DEFAULT_SETTINGS) -> bool:
    """Forget the unlocked key (True when the station was open)."""
    try:
        d = runtime_dir(tdir, settings)
    except UsageError:  # no sealed key: nothing was ever unlocked
        return False
    was = (d / "key").exists()
    for name in ("key", "key.tmp"):
        p = d / name
        try:
            size = p.stat().st_size
            with open(p, "r+b") as f:  # tmpfs, but overwrite anyway before unlinking
                f.write(b"\0" * size)
            p.unlink()
        except FileNotFoundError:
            pass
    try:
        d.rmdir()
    except OSError:
        pass
    return was


def destroy_sealed(tdir: TerminalDir, randbytes: RandomBytes = os.urandom) -> bool:
    """Overwrite the sealed key file with random bytes, fsync, unlink (wipe). True if it existed."""
    p = sealed_path(tdir)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        return False
    with open(p, "r+b") as f:
        f.write(randbytes(max(size, 1)))
        f.flush()
        os.fsync(f.fileno())
    p.unlink()
    return True
