"""Station unlock (保存データの鍵の解除) before the kiosk starts: the supervisor PIN pad shown when
the terminal's store is encrypted at rest and its key is not unlocked (appliance/atrest.py).

``UnlockPresenter`` holds the pad and calls ``UnlockPort.unlock(pin)`` (the real port is
``AtRestUnlock``: ``atrest.open_station``). A wrong PIN says how many tries are left; a locked
PIN wrapping says so plainly and disables the pad (the 選管 must come). When unlocked,
``on_unlocked`` is called once (the app then opens the terminal and shows the opening check).

Plain Python: no kivy import. The try counter lives in the sealed key file, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.errors import MeiboError


class UnlockPort(Protocol):
    def unlock(self, pin: str) -> None:
        """Raises ``PinWrong`` (details ``tries_left``) or ``PinLocked``."""
        ...


class AtRestUnlock:
    """The real port: unseal the data key with the PIN into the runtime (tmpfs) directory."""

    def __init__(self, tdir_path: Path) -> None:
        self.tdir_path = tdir_path

    def unlock(self, pin: str) -> None:
        from appliance import atrest
        from appliance.dirs import TerminalDir

        atrest.open_station(TerminalDir(self.tdir_path), pin)


def needs_unlock(tdir_path: Path) -> bool:
    """True when the store is encrypted and its key is not unlocked (the kiosk shows the PIN pad)."""
    from appliance import atrest
    from appliance.dirs import TerminalDir

    tdir = TerminalDir(tdir_path)
    return atrest.is_protected(tdir) and atrest.unlocked_key(tdir) is None


@dataclass(frozen=True)
class UnlockState:
    station_name: str
    digits: int = 0
    message: str = ""
    locked: bool = False  # PIN wrapping locked: nothing more to try here
    unlocked: bool = False

    @property
    def masked(self) -> str:
        return "●" * self.digits if self.digits else "PIN を入力してください"

    @property
    def title(self) -> str:
        return f"{self.station_name}: 投票所の開設（管理者 PIN で端末の記録を開きます）"


class UnlockPresenter:
    def __init__(self, port: UnlockPort, station_name: str, on_unlocked: Callable[[], None] | None = None,
                 max_len: int = 12) -> None:
        self.port = port
        self.on_unlocked = on_unlocked
        self.max_len = max_len
        self._buf = ""
        self.state = UnlockState(station_name)
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, cb: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def _set(self, **kw: object) -> None:
        from dataclasses import replace

        self.state = replace(self.state, **kw)  # type: ignore[arg-type]
        for cb in list(self._listeners):
            cb()

    def digit(self, d: str) -> None:
        if self.state.locked or self.state.unlocked:
            return
        if len(d) == 1 and d.isdigit() and len(self._buf) < self.max_len:
            self._buf += d
            self._set(digits=len(self._buf), message="")

    def backspace(self) -> None:
        self._buf = self._buf[:-1]
        self._set(digits=len(self._buf))

    def submit(self) -> bool:
        if self.state.locked or self.state.unlocked:
            return self.state.unlocked
        pin, self._buf = self._buf, ""
        if not pin:
            self._set(digits=0, message="PIN を入力してください")
            return False
        try:
            self.port.unlock(pin)
        except MeiboError as e:
            if e.code == "pin_locked":
                self._set(digits=0, locked=True,
                          message=f"× {e.message}。この端末では開設できません。予備の端末か紙の名簿抄本で続けてください")
            elif e.code == "pin_wrong":
                left = e.details.get("tries_left")
                self._set(digits=0, message=f"× PIN が違います（あと {left} 回まで）" if left is not None
                          else f"× {e.message}")
            else:
                self._set(digits=0, message=f"× {e.message}")
            return False
        self._set(digits=0, unlocked=True, message="✓ 開きました")
        if self.on_unlocked is not None:
            self.on_unlocked()
        return True


__all__ = ["UnlockPort", "AtRestUnlock", "needs_unlock", "UnlockState", "UnlockPresenter"]
