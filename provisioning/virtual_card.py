"""The project's own virtual card (仮想カード), plugged into Debian's vsmartcard-vpcd reader in pcscd.

Owns: the vpcd socket protocol on the card side and the card's domain actions. vpcd (the reader
driver inside pcscd) listens on a TCP port (35963 = 0x8C7B by default, /etc/reader.conf.d/vpcd;
the second slot listens on port + 1); the card connects to it, and the reader sees a card for as
long as that connection is up. Every message either way is a 2-byte big-endian length and a
payload. A 1-byte payload from vpcd is a control message: 0 power off, 1 power on, 2 reset (no
answer), 4 ATR request (answered with the ATR). Anything longer is a command APDU, answered
with the response APDU.

``remove()`` closes the connection (the card is pulled out), ``insert()`` opens a new one.
``pull_on(ins)`` pulls the card when a command with that INS arrives, before or after the applet
ran it: a card pulled out mid-exchange. The card's memory is persisted (card_state.py) *before*
the answer is sent, like EEPROM written before a card answers.

Never imports pyscard or HQ records; the applet decides everything about the card's behaviour.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provisioning import card_state
from provisioning.applet import ATR, Applet, CardState, RandomSource

DEFAULT_VPCD_PORT = 0x8C7B  # 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


@dataclass(frozen=True)
class VirtualCardSettings:
    connect_timeout_s: float = 10.0  # insert(): keep trying to reach vpcd this long
    connect_retry_s: float = 0.1
    reconnect: bool = False  # `meibo provision virtual-card`: come back when pcscd restarts


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class VirtualCard:
    """A card in a vpcd slot. ``state_path`` (optional) is where its memory persists."""

    def __init__(self, state: CardState, random: RandomSource, *, port: int = DEFAULT_VPCD_PORT,
                 host: str = "127.0.0.1", state_path: Path | None = None,
                 settings: VirtualCardSettings | None = None,
                 on_apdu: Callable[[bytes, bytes], None] | None = None) -> None:
        self.host, self.port = host, port
        self.settings = settings or VirtualCardSettings()
        self.state_path = state_path
        self.applet = Applet(state, random, on_change=self._persist)
        self._on_apdu = on_apdu
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pull: tuple[int, bool] | None = None
        self.error: BaseException | None = None  # what stopped the card thread, if not remove()

    @classmethod
    def from_file(cls, path: Path, random: RandomSource, **kw: object) -> "VirtualCard":
        """The card whose memory is ``path`` (a new blank card if the file does not exist)."""
        return cls(card_state.load_or_create(path, random), random, state_path=path, **kw)  # type: ignore[arg-type]

    @property
    def state(self) -> CardState:
        return self.applet.state

    def _persist(self, state: CardState) -> None:
        if self.state_path is not None:
            card_state.save(self.state_path, state)

    # --- domain actions ----------------------------------------------------------------------
    def insert(self) -> None:
        """Put the card into the reader: connect to vpcd (retrying until it listens)."""
        t = self._thread
        if t is not None and t.is_alive():
            if not self._stop.is_set():
                return  # already in
            t.join(timeout=5)  # a card just pulled (pull_on) is still leaving: let it go first
        with self._lock:
            self._stop.clear()
            self.error = None
            sock = self._connect()
            self._sock = sock
            self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True,
                                            name=f"virtual-card:{self.port}")
            self._thread.start()

    def remove(self) -> None:
        """Pull the card out: the connection drops, the reader sees an empty slot."""
        with self._lock:
            self._stop.set()
            self._drop()
            t = self._thread
        # ident is None when a signal landed in insert() between creating the thread and starting
        # it (Ctrl-C right as the card goes in): the socket is closed above, nothing to wait for.
        if t is not None and t is not threading.current_thread() and t.ident is not None:
            t.join(timeout=5)

    def pull_on(self, ins: int, after_processing: bool = False) -> None:
        """Pull the card out when a command with this INS arrives (once); see FakeCard.pull_on."""
        self._pull = (ins, after_processing)

    @property
    def inserted(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def run_forever(self) -> None:
        """Insert and serve until ``stop()``; with ``settings.reconnect`` survive pcscd restarts."""
        while not self._stop.is_set():
            self.insert()
            t = self._thread
            while t is not None and t.is_alive() and not self._stop.is_set():
                t.join(timeout=0.5)
            if not self.settings.reconnect:
                break
            if not self._stop.is_set():
                time.sleep(self.settings.connect_retry_s)
                with self._lock:
                    self._thread = None

    def stop(self) -> None:
        self.remove()

    # --- the vpcd link -----------------------------------------------------------------------
    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.settings.connect_timeout_s
        while True:
            try:
                s = socket.create_connection((self.host, self.port), timeout=2.0)
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return s
            except OSError:
                if time.monotonic() >= deadline or self._stop.is_set():
                    raise
                time.sleep(self.settings.connect_retry_s)

    def _drop(self) -> None:
        s, self._sock = self._sock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        sock.sendall(struct.pack(">H", len(payload)) + payload)

    def _run(self, sock: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                head = _recv_exact(sock, 2)
                if head is None:
                    break
                (n,) = struct.unpack(">H", head)
                msg = _recv_exact(sock, n) if n else b""
                if msg is None:
                    break
                if n == 1:
                    ctrl = msg[0]
                    if ctrl in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                        self.applet.reset()
                    elif ctrl == CTRL_ATR:
                        self._send(sock, ATR)
                    continue
                pull = self._pull
                if pull is not None and len(msg) >= 2 and msg[1] == pull[0]:
                    self._pull = None
                    if pull[1]:
                        self.applet.process(msg)  # ran (and persisted); the answer is lost
                    self._stop.set()
                    break
                resp = self.applet.process(msg)
                if self._on_apdu is not None:
                    self._on_apdu(msg, resp)
                self._send(sock, resp)
        except OSError as e:
            if not self._stop.is_set():
                self.error = e
        except BaseException as e:  # a persistence failure: the card "dies" without answering
            self.error = e
        finally:
            self.applet.reset()
            with self._lock:
                if self._sock is sock:
                    self._sock = None
            try:
                sock.close()
            except OSError:
                pass
