"""Terminal enrollment by smart card on the kiosk (端末の登録（スマートカード）): the screen's state.

``EnrollPresenter`` walks staff through what ``meibo terminal enroll`` does on the command line:
insert the enrollment card (readers listed through the PC/SC adapter, card inserted / removed
seen by ``poll()``), type the card's PIN on the digit pad, choose the 投票管理者 PIN twice (it
seals the store's data key, as ``--supervisor-pin-file`` does), then watch the terminal's enroll
states (provisioning/enroll.py ``TState``) tick by in Japanese until the terminal id, station and
roll version are shown, or a plain Japanese error is.

Rules kept here:
- The screen's phases are one table (``TABLE``); an event not in it raises ``IllegalTransition``
  and changes nothing.
- Every failure leaves TDIR as it was: that is the enroll client's guarantee (staging directory
  renamed only after HQ committed); this presenter only never retries on its own.
- The HQ address is shown, never typed: it comes from the card (HQ wrote it at issue; its CA
  fingerprint pins it), or from ``meibo kiosk --enroll-hq`` for a technician. A typo on a touch
  pad could only fail (the CA check refuses any other HQ), so there is nothing to gain by it.
- A wrong card PIN returns to the PIN pad with the tries the card says are left; the third wrong
  PIN locks the card for good and the screen says so.
- The card PIN and the supervisor PIN are kept in memory only until the attempt ends.

Plain Python: no kivy import. The card reader and HQ are behind ``EnrollPort``; the real one,
``CardEnrollPort`` (any ``CardReader``, PC/SC on a kiosk, + provisioning.enroll_client), is given
its reader, so pyscard is never imported here, and imports the enroll client (aiohttp) only when
made; the fake is in tests/unit/ui_kivy/enroll/fake_port.py and a contract test holds both to the
same behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Protocol

from appliance.dirs import TerminalDir
from ground.errors import IllegalTransition, MeiboError
from ground.model import StationId
from hardware.cardreader.base import CardGone, NoPcscService
from provisioning.applet import PIN_MAX, PIN_MIN  # the card's PIN length
from provisioning.card_client import CardAlreadyUsed, CardClient, CardLocked, CardOfOtherElection, WrongPin
from provisioning.enroll import TState, enrollment_address

SUPERVISOR_MIN, SUPERVISOR_MAX = 4, 12  # appliance.terminal.write_pin


# --- the port -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CardSummary:
    """What the card says before any PIN (nothing secret)."""

    serial: str
    election_id: str
    terminal: str
    station: str
    hq_address: str  # the enrollment endpoint that will be used (card's address, port + 1, or override)
    used: bool
    tries_left: int


@dataclass(frozen=True)
class Enrolled:
    terminal: str
    station: str
    station_name: str
    election_id: str
    roll_version: int
    replaced: str | None  # where the old directory was kept (re-enrollment)


StepCallback = Callable[[TState, str], None]


class ReaderPort(Protocol):
    """The card readers as a kiosk screen watches them (also the station unlock's, unlock.py)."""

    def readers(self) -> list[str]:
        """Reader names; raises ``NoReader`` (code ``no_pcsc_service``) when PC/SC is not running."""
        ...

    def card_present(self, reader: str) -> bool: ...


class EnrollPort(ReaderPort, Protocol):
    def read_card(self, reader: str) -> CardSummary:
        """Card errors (``not_meibo_card``, ``card_not_issued`` …) or reader errors raise."""
        ...

    def enroll(self, reader: str, card_pin: str, supervisor_pin: str, *, replace: bool,
               on_step: StepCallback) -> Awaitable[Enrolled]:
        """Enroll TDIR; ``on_step(state, detail)`` as the terminal's enroll states are reached.
        Raises a ``MeiboError`` (``wrong_pin`` with ``tries_left``, ``card_locked``, ``hq_unreachable``
        …) and then TDIR, HQ and the card are as they were."""
        ...


# --- the phases -----------------------------------------------------------------------------------

class Phase(str, Enum):
    NO_READER = "no_reader"
    WAIT_CARD = "wait_card"
    CARD_PIN = "card_pin"
    SUPERVISOR_PIN = "supervisor_pin"
    SUPERVISOR_CONFIRM = "supervisor_confirm"
    ENROLLING = "enrolling"
    DONE = "done"
    FAILED = "failed"
    FINISHED = "finished"  # 続ける pressed: the app moves on
    CANCELLED = "cancelled"  # やめる (re-enrollment only): the app returns to the kiosk


TABLE: dict[tuple[Phase, str], Phase] = {
    (Phase.NO_READER, "reader"): Phase.WAIT_CARD,
    (Phase.WAIT_CARD, "no_reader"): Phase.NO_READER,
    (Phase.WAIT_CARD, "card_in"): Phase.CARD_PIN,
    (Phase.WAIT_CARD, "card_bad"): Phase.FAILED,
    (Phase.CARD_PIN, "card_out"): Phase.WAIT_CARD,
    (Phase.CARD_PIN, "pin"): Phase.SUPERVISOR_PIN,
    (Phase.CARD_PIN, "pin_again"): Phase.ENROLLING,  # after a wrong card PIN: supervisor PIN kept
    (Phase.SUPERVISOR_PIN, "pin"): Phase.SUPERVISOR_CONFIRM,
    (Phase.SUPERVISOR_PIN, "back"): Phase.CARD_PIN,
    (Phase.SUPERVISOR_PIN, "card_out"): Phase.WAIT_CARD,
    (Phase.SUPERVISOR_CONFIRM, "confirm"): Phase.ENROLLING,
    (Phase.SUPERVISOR_CONFIRM, "mismatch"): Phase.SUPERVISOR_PIN,
    (Phase.SUPERVISOR_CONFIRM, "back"): Phase.SUPERVISOR_PIN,
    (Phase.SUPERVISOR_CONFIRM, "card_out"): Phase.WAIT_CARD,
    (Phase.ENROLLING, "enrolled"): Phase.DONE,
    (Phase.ENROLLING, "wrong_pin"): Phase.CARD_PIN,
    (Phase.ENROLLING, "failed"): Phase.FAILED,
    (Phase.FAILED, "card_out"): Phase.WAIT_CARD,
    (Phase.FAILED, "retry"): Phase.WAIT_CARD,
    (Phase.FAILED, "no_reader"): Phase.NO_READER,
    (Phase.DONE, "continue"): Phase.FINISHED,
}
for _p in (Phase.NO_READER, Phase.WAIT_CARD, Phase.CARD_PIN, Phase.SUPERVISOR_PIN, Phase.SUPERVISOR_CONFIRM,
           Phase.FAILED):
    TABLE[(_p, "cancel")] = Phase.CANCELLED  # only offered when re-enrolling (the kiosk is behind it)
for _p in (Phase.CARD_PIN, Phase.SUPERVISOR_PIN, Phase.SUPERVISOR_CONFIRM):
    TABLE[(_p, "no_reader")] = Phase.NO_READER

PAD_PHASES = {Phase.CARD_PIN, Phase.SUPERVISOR_PIN, Phase.SUPERVISOR_CONFIRM}


def step(phase: Phase, event: str) -> Phase:
    nxt = TABLE.get((phase, event))
    if nxt is None:
        raise IllegalTransition(f"登録画面の操作が正しくありません（{phase.value} で {event}）",
                                phase=phase.value, event=event)
    return nxt


# The terminal's enroll states as staff see them (TState order in provisioning/enroll.py).
STEPS: tuple[tuple[TState, str], ...] = (
    (TState.CARD_READ, "カードの読み取り"),
    (TState.PIN_VERIFIED, "暗証番号の照合"),
    (TState.KEYS_READY, "端末の鍵の作成"),  # made on the terminal; they never leave it
    (TState.HQ_TRUSTED, "本部の確認（選挙 CA）"),
    (TState.CHALLENGED, "登録の申し込み"),
    (TState.CARD_SIGNED, "カードによる署名"),
    (TState.PROVEN, "本部による認証"),
    (TState.ROLL_INSTALLED, "名簿の受信と格納"),
    (TState.CARD_MARKED, "カードに使用済みを記録"),
    (TState.CERTIFIED, "登録の確定（証明書）"),
    (TState.ENROLLED, "端末の設定の書き込み"),
)
_ORDER = {s: i for i, (s, _) in enumerate(STEPS)}


# Errors as the kiosk words them (codes from card_client, the reader, enroll and HQ's refusals).
# Where the CLI's own message names a command-line flag, the kiosk says what to do at the kiosk.
MESSAGES: dict[str, str] = {
    "card_locked": "× カードはロックされています（暗証番号を 3 回間違えました）。"
                   "このカードは使えません。選挙管理委員会でカードを取り消し、新しいカードを発行してもらってください",
    "card_other_election": "× 別の選挙のカードです。この選挙の登録カードを使ってください",
    "card_already_used": "× このカードは使用済みです（登録カードは 1 回だけ使えます）。本部で新しいカードを発行してもらってください",
    "card_used": "× このカードは本部で使用済みになっています。本部で新しいカードを発行してもらってください",
    "card_cancelled": "× このカードは本部で取り消されています。本部で新しいカードを発行してもらってください",
    "card_unknown": "× このカードは本部の台帳にありません（別の本部のカードか、発行の記録がありません）",
    "card_not_issued": "× このカードは選挙管理委員会での発行が済んでいません（未発行のカード）",
    "not_meibo_card": "× meibo の登録カードではありません。登録カードを差し込んでください",
    "card_removed": "× 登録の途中でカードが抜かれました。端末は登録前のままです。カードを差し直して、最初からやり直してください",
    "card_absent": "× カードが入っていません。カードを差し込んでください",
    "hq_unreachable": "× 本部の登録窓口に接続できません。本部で登録窓口（meibo hq provisioning）が開いているか、"
                      "回線を確かめてください。端末は登録前のままです",
    "hq_not_trusted": "× 接続先の本部がカードに記録された選挙 CA と一致しません。接続先が正しいか本部に確認してください。"
                      "端末は登録前のままです",
    "terminal_already_enrolled": "× この端末 ID はすでに本部に登録されています。"
                                 "登録し直すときは、管理者メニューの「端末の登録（スマートカード）」から行ってください（古い登録は失効します）",
    "already_enrolled": "× この端末はすでに登録済みです。登録し直すときは管理者メニューから行ってください",
    "dir_not_empty": "× 端末ディレクトリに別のファイルがあるため登録できません（上書きしません）",
    "commit_unknown": "× 本部との接続が登録の確定の直前に切れました。本部で登録が済んだかどうか分かりません。"
                      "本部で端末一覧を確かめてもらってください（このカードは使用済みになっています）",
    "terminal_went_live": "× この端末はすでに受付などを記録しています。同じ端末 ID で登録し直すと、本部で一つの端末 ID に"
                          "二つの記録が並び、複製の警報になります。本部で別の端末 ID の登録カードを発行してもらってください",
    "no_pcsc_service": "カードリーダーのサービス（pcscd）が動いていません。端末の管理者に連絡してください",
}


def message_for(e: MeiboError) -> str:
    m = MESSAGES.get(e.code)
    return m if m is not None else f"× {e.message}"


# --- pieces shared with the station unlock's card step (unlock.py) ----------------------------------

@dataclass(frozen=True)
class ReaderScan:
    """One look at the readers: (name, card present) each, or why they could not be listed."""

    readers: tuple[tuple[str, bool], ...] = ()
    error: str = ""  # Japanese, for the screen; "" when the readers were listed

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.readers]

    @property
    def with_card(self) -> list[str]:
        return [n for n, p in self.readers if p]


def scan_readers(port: ReaderPort) -> ReaderScan:
    """List the readers and whether each holds a card (the screens' poll, about every 0.3 s)."""
    try:
        names = port.readers()
        return ReaderScan(tuple((n, port.card_present(n)) for n in names))
    except MeiboError as e:
        return ReaderScan((), message_for(e) if isinstance(e, NoPcscService)
                          else f"カードリーダーを確認できません: {e.message}")


def readers_text(readers: tuple[tuple[str, bool], ...]) -> str:
    if not readers:
        return "カードリーダー: なし"
    return "カードリーダー: " + "、".join(f"{n}（{'カードあり' if p else '空'}）" for n, p in readers)


def masked(digits: int, empty: str) -> str:
    """What the pad's display shows: one ● per digit typed, never the digits."""
    return "●" * digits if digits else empty


class PinBuffer:
    """The digits typed on a pad, kept only until taken (or cleared with the attempt)."""

    def __init__(self) -> None:
        self._digits = ""

    def __len__(self) -> int:
        return len(self._digits)

    def add(self, d: str, max_len: int) -> bool:
        """Append one ASCII digit unless ``max_len`` is reached; False when nothing changed."""
        if len(d) == 1 and d.isascii() and d.isdigit() and len(self._digits) < max_len:
            self._digits += d
            return True
        return False

    def backspace(self) -> None:
        self._digits = self._digits[:-1]

    def take(self) -> str:
        """The digits typed; the buffer is empty afterwards."""
        out, self._digits = self._digits, ""
        return out

    def clear(self) -> None:
        self._digits = ""


# --- the screen's state ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StepRow:
    label: str
    status: str  # done | now | todo | failed

    @property
    def text(self) -> str:
        mark = {"done": "✓", "now": "▶", "todo": "・", "failed": "×"}[self.status]
        return f"{mark} {self.label}"


@dataclass(frozen=True)
class EnrollState:
    phase: Phase
    replace: bool = False
    readers: tuple[tuple[str, bool], ...] = ()  # (name, card present)
    reader: str | None = None  # the reader whose card is being used
    card: CardSummary | None = None
    digits: int = 0
    message: str = ""
    level: str = "info"  # info | error | ok
    steps: tuple[StepRow, ...] = ()
    detail: str = ""  # the current step's detail (roll size …)
    result: Enrolled | None = None
    error_code: str = ""

    @property
    def title(self) -> str:
        return "端末の登録し直し（スマートカード）" if self.replace else "端末の登録（スマートカード）"

    @property
    def prompt(self) -> str:
        return {
            Phase.NO_READER: "カードリーダーをつないでください",
            Phase.WAIT_CARD: "スマートカードを差し込んでください",
            Phase.CARD_PIN: "カードの暗証番号を入力してください",
            Phase.SUPERVISOR_PIN: "投票管理者の PIN を決めてください（4〜12 桁。端末の記録の鍵になります）",
            Phase.SUPERVISOR_CONFIRM: "確認のため、もう一度投票管理者の PIN を入力してください",
            Phase.ENROLLING: "登録しています。カードを抜かないでください",
            Phase.DONE: "登録が完了しました。カードを抜いてください",
            Phase.FAILED: "登録できませんでした",
            Phase.FINISHED: "",
            Phase.CANCELLED: "",
        }[self.phase]

    @property
    def readers_text(self) -> str:
        return readers_text(self.readers)

    @property
    def card_text(self) -> str:
        c = self.card
        if c is None:
            return ""
        return f"カード {c.serial}: 選挙 {c.election_id} / 端末 {c.terminal} / 投票所 {c.station}"

    @property
    def hq_text(self) -> str:
        return f"本部の登録窓口: {self.card.hq_address}" if self.card is not None else ""

    @property
    def masked(self) -> str:
        if self.phase not in PAD_PHASES:
            return ""
        return masked(self.digits, "（未入力）")

    @property
    def pad_enabled(self) -> bool:
        return self.phase in PAD_PHASES

    @property
    def buttons(self) -> tuple[tuple[str, str], ...]:
        """(intent id, label) of the buttons shown besides the digit pad."""
        out: list[tuple[str, str]] = []
        if self.phase in PAD_PHASES:
            out.append(("submit", "次へ" if self.phase is not Phase.SUPERVISOR_CONFIRM else "登録する"))
        if self.phase in (Phase.SUPERVISOR_PIN, Phase.SUPERVISOR_CONFIRM):
            out.append(("back", "戻る"))
        if self.phase is Phase.FAILED:
            out.append(("retry", "最初からやり直す"))
        if self.phase is Phase.DONE:
            out.append(("continue", "続ける"))
        if self.replace and (self.phase, "cancel") in TABLE:
            out.append(("cancel", "やめる（受付画面に戻る）"))
        return tuple(out)

    @property
    def done_text(self) -> str:
        r = self.result
        if r is None:
            return ""
        lines = [f"✓ 端末 {r.terminal} を {r.station_name}（{r.station}）の端末として登録しました",
                 f"選挙 {r.election_id} / 選挙人名簿 第 {r.roll_version} 版を受信・格納済み（以後の版は本部との同期で届きます）",
                 "次: 投票管理者の PIN で端末の記録を開き、開設前の確認をします"]
        if r.replaced:
            lines.insert(1, f"前の端末ディレクトリは {r.replaced} に残しました（記録は消していません）")
        return "\n".join(lines)


class EnrollPresenter:
    def __init__(self, port: EnrollPort, *, replace: bool = False, election_id: str | None = None,
                 live_terminal: str | None = None,
                 on_finished: Callable[[Enrolled | None], None] | None = None) -> None:
        """``replace``: re-enrollment from the kiosk's supervisor menu (offers やめる, and HQ
        revokes the old identity). ``election_id``: refuse another election's card before the PIN.
        ``live_terminal``: this terminal's id when its journal already holds events; a card for
        that same id is refused (a second journal under one id is a clone alarm at HQ,
        docs/enrollment.md), a card for another terminal id is fine."""
        self.port = port
        self.election_id = election_id
        self.live_terminal = live_terminal
        self.on_finished = on_finished
        self._buf = PinBuffer()
        self._card_pin = ""
        self._supervisor_pin = ""
        self._listeners: list[Callable[[], None]] = []
        self.state = EnrollState(Phase.NO_READER, replace=replace)

    # -- plumbing --------------------------------------------------------------------------------
    def subscribe(self, cb: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def _set(self, **kw: object) -> None:
        self.state = replace(self.state, **kw)  # type: ignore[arg-type]
        for cb in list(self._listeners):
            cb()

    def _go(self, event: str, **kw: object) -> None:
        nxt = step(self.state.phase, event)  # raises before anything changes
        if nxt in (Phase.WAIT_CARD, Phase.NO_READER, Phase.CANCELLED):
            self._forget()
            kw = {"card": None, "reader": None, "steps": (), "detail": "", "error_code": "", **kw}
        self._buf.clear()
        self._set(phase=nxt, digits=0, **kw)

    def _forget(self) -> None:
        self._buf.clear()
        self._card_pin = self._supervisor_pin = ""

    @property
    def phase(self) -> Phase:
        return self.state.phase

    # -- readers and the card (called about every 0.3 s by the app) -----------------------------
    def poll(self) -> None:
        if self.phase in (Phase.ENROLLING, Phase.DONE, Phase.FINISHED, Phase.CANCELLED):
            return
        scan = scan_readers(self.port)
        if scan.error:
            msg = scan.error
            if self.phase is not Phase.NO_READER and (self.phase, "no_reader") in TABLE:
                self._go("no_reader", readers=(), message=msg, level="error")
            elif self.state.message != msg:
                self._set(readers=(), message=msg, level="error")
            return
        if scan.readers != self.state.readers:
            self._set(readers=scan.readers)
        if not scan.names:
            if (self.phase, "no_reader") in TABLE:
                self._go("no_reader", message="", level="info")
            return
        if self.phase is Phase.NO_READER:
            self._go("reader", message="", level="info")
        with_card = scan.with_card
        if self.state.reader is not None and self.state.reader not in with_card:
            if self.phase is Phase.FAILED:
                self._go("card_out")  # the failure's message stays until the next card is read
            elif (self.phase, "card_out") in TABLE:
                self._go("card_out", message="カードが抜かれました。差し込み直してください", level="info")
            return
        if self.phase is Phase.WAIT_CARD and with_card:
            self._read(with_card[0])

    def _read(self, reader: str) -> None:
        try:
            card = self.port.read_card(reader)
            if self.election_id is not None and card.election_id != self.election_id:
                raise CardOfOtherElection("別の選挙のカードです")
            if card.used:
                raise CardAlreadyUsed("使用済みのカードです")
            if self.live_terminal is not None and card.terminal == self.live_terminal:
                raise MeiboError("受付を記録した端末 ID です", code="terminal_went_live")
            if card.tries_left == 0:
                raise CardLocked()
        except CardGone:
            return  # pulled while being read: the next poll sees it gone or back
        except MeiboError as e:
            self._go("card_bad", reader=reader, message=message_for(e), level="error", error_code=e.code)
            return
        self._go("card_in", reader=reader, card=card, message="", level="info")

    # -- the pad ---------------------------------------------------------------------------------
    def _max(self) -> int:
        return PIN_MAX if self.phase is Phase.CARD_PIN else SUPERVISOR_MAX

    def digit(self, d: str) -> None:
        if self.phase in PAD_PHASES and self._buf.add(d, self._max()):
            self._set(digits=len(self._buf))

    def backspace(self) -> None:
        if self.phase in PAD_PHASES:
            self._buf.backspace()
            self._set(digits=len(self._buf))

    async def submit(self) -> None:
        """次へ / 登録する on the pad."""
        phase, typed = self.phase, self._buf.take()
        if phase is Phase.CARD_PIN:
            if not PIN_MIN <= len(typed) <= PIN_MAX:
                return self._set(digits=0, message=f"× カードの暗証番号は {PIN_MIN}〜{PIN_MAX} 桁です", level="error")
            self._card_pin = typed
            if self._supervisor_pin:
                self._go("pin_again", message="", level="info")
                return await self._enroll()
            return self._go("pin", message="", level="info")
        if phase is Phase.SUPERVISOR_PIN:
            if not SUPERVISOR_MIN <= len(typed) <= SUPERVISOR_MAX:
                return self._set(digits=0, message=f"× 投票管理者の PIN は {SUPERVISOR_MIN}〜{SUPERVISOR_MAX} 桁の数字にしてください",
                                 level="error")
            self._supervisor_pin = typed
            return self._go("pin", message="", level="info")
        if phase is Phase.SUPERVISOR_CONFIRM:
            if typed != self._supervisor_pin:
                self._supervisor_pin = ""
                return self._go("mismatch", message="× 2 回の PIN が一致しません。もう一度決めてください", level="error")
            self._go("confirm", message="", level="info")
            return await self._enroll()
        raise IllegalTransition(f"ここでは入力できません（{phase.value}）", phase=phase.value, event="submit")

    def back(self) -> None:
        self._supervisor_pin = "" if self.phase is Phase.SUPERVISOR_PIN else self._supervisor_pin
        self._go("back", message="", level="info")

    def retry(self) -> None:
        self._go("retry", message="", level="info")

    def cancel(self) -> None:
        if not self.state.replace:
            raise IllegalTransition("最初の登録はやめられません（端末が未登録のため）", phase=self.phase.value,
                                    event="cancel")
        self._go("cancel", message="", level="info")
        if self.on_finished is not None:
            self.on_finished(None)

    def finish(self) -> None:
        """続ける after success: the app goes on to the unlock and the opening check."""
        self._go("continue")
        if self.on_finished is not None:
            self.on_finished(self.state.result)

    # -- the enrollment itself ---------------------------------------------------------------------
    def _on_step(self, reached: TState, detail: str) -> None:
        n = _ORDER.get(reached)
        if n is None:
            return
        rows = tuple(StepRow(label, "done" if i <= n else ("now" if i == n + 1 else "todo"))
                     for i, (_, label) in enumerate(STEPS))
        self._set(steps=rows, detail=detail)

    async def _enroll(self) -> None:
        assert self.state.reader is not None
        self._set(steps=tuple(StepRow(label, "now" if i == 0 else "todo") for i, (_, label) in enumerate(STEPS)),
                  detail="", message="", level="info")
        card_pin, self._card_pin = self._card_pin, ""
        try:
            result = await self.port.enroll(self.state.reader, card_pin, self._supervisor_pin,
                                            replace=self.state.replace, on_step=self._on_step)
        except MeiboError as e:
            if isinstance(e, WrongPin) and e.tries_left > 0:
                left = e.tries_left
                card = replace(self.state.card, tries_left=left) if self.state.card is not None else None
                self._go("wrong_pin", card=card, steps=(), level="error",
                         message=f"× カードの暗証番号が違います（あと {left} 回間違えるとカードがロックされます）")
                return
            code = "card_locked" if isinstance(e, WrongPin) else e.code  # the last try locked the card
            steps = tuple(replace(r, status="failed") if r.status == "now" else r for r in self.state.steps)
            self._supervisor_pin = ""
            self._go("failed", steps=steps, message=message_for(MeiboError(e.message, code=code)), level="error",
                     error_code=code)
            return
        self._supervisor_pin = ""
        self._on_step(TState.ENROLLED, "")
        self._go("enrolled", result=result, message="", level="ok")



# --- the real port: PC/SC reader + provisioning.enroll_client --------------------------------------

class CardEnrollPort:
    """The real port: any ``CardReader`` (``PcscCardReader`` on a kiosk) and HQ's enrollment endpoint.

    ``hq``: the enrollment endpoint ADDR:PORT when not the card's (``meibo kiosk --enroll-hq``)."""

    def __init__(self, tdir_path: object, reader: object, clock: object, *, hq: str | None = None,
                 election_id: str | None = None, settings: object | None = None) -> None:
        from provisioning.enroll_client import EnrollSettings  # lazy: aiohttp, only for the real port

        self.tdir_path = Path(str(tdir_path))
        self.reader = reader
        self.clock = clock
        self.hq = hq
        self.election_id = election_id
        self.settings = settings if settings is not None else EnrollSettings()

    def readers(self) -> list[str]:
        return list(self.reader.readers())  # type: ignore[attr-defined]

    def card_present(self, reader: str) -> bool:
        return bool(self.reader.card_present(reader))  # type: ignore[attr-defined]

    def read_card(self, reader: str) -> CardSummary:
        with self.reader.connect(reader) as ch:  # type: ignore[attr-defined]
            client = CardClient(ch)
            client.select()
            d = client.read_enrollment_data()
            tries = client.pin_tries_left()
        try:
            address = self.hq or enrollment_address(d.hq_address)
        except ValueError:
            raise MeiboError(f"カードに記録された本部のアドレスが読めません: {d.hq_address!r}",
                             code="card_hq_address_invalid") from None
        return CardSummary(d.serial_hex, d.election_id, d.terminal_id, d.station_id, address, d.used, tries)

    async def enroll(self, reader: str, card_pin: str, supervisor_pin: str, *, replace: bool,
                     on_step: StepCallback) -> Enrolled:
        from provisioning.enroll_client import enroll  # lazy: aiohttp, only for the real port

        reached: list[TState] = []

        def on_state(state: TState) -> None:  # enroll_client's own state table, in order
            if state in _ORDER and state is not TState.ENROLLED:  # ENROLLED: the presenter, on return
                reached.append(state)
                on_step(state, "")

        def progress(text: str) -> None:  # never parsed: while PROVEN, the lines are the roll's download
            if reached and reached[-1] is TState.PROVEN:
                on_step(TState.PROVEN, text)

        r = await enroll(self.tdir_path, self.reader, reader, lambda _tries: card_pin,  # type: ignore[arg-type]
                         self.clock, hq=self.hq, replace=replace,  # type: ignore[arg-type]
                         election=self.election_id, supervisor_pin=supervisor_pin,
                         settings=self.settings, progress=progress, on_state=on_state)  # type: ignore[arg-type]
        name = TerminalDir(self.tdir_path).config().station(StationId(r.station)).name
        return Enrolled(r.terminal, r.station, name, r.election_id, r.roll_version, r.replaced)


__all__ = ["CardEnrollPort", "CardSummary", "Enrolled", "EnrollPort", "EnrollPresenter", "EnrollState",
           "IllegalTransition", "MESSAGES", "Phase", "PinBuffer", "ReaderPort", "ReaderScan", "STEPS", "StepRow",
           "TABLE", "masked", "message_for", "readers_text", "scan_readers"]
