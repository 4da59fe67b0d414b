"""The HQ reconciliation console's presenter (本部 名簿対照監視画面): view state, view models and
intents, in plain Python. Never imports kivy (a test checks it): the views only bind to what
this module computes, so every screen state is tested without a window.

Screens (tabs): 警告 (alerts first: double votes side by side, clone alarms, hourly
名簿対照数/交付数 differences), 端末 (every station and terminal), 投票者数 (turnout per hour and
by station kind), 年齢確認 (voters whose 生年月日 不詳 needs an ID check at the kiosk, and whether
they have checked in: issue 19), 操作 (revoke a terminal, record a 不在者投票, publish a roll update).

Rules:
- the alert workflow is a table (``ALERT_MOVES``); a move not in it is refused with a message
  and changes nothing; every move needs who (対応者), and resolving needs a note, because the
  history is the audit trail the office keeps;
- actions that change what stations may do (revoke, 不在者投票, roll publication) go through a
  confirmation step: ``request_*`` only prepares a ``Confirmation``; ``confirm()`` runs it;
- the backend (``ConsoleBackend``) does the work: the in-process HQ node or the admin socket of
  an HQ serving in another process. Its errors (``MeiboError``) become the Japanese ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Protocol

from ground.errors import MeiboError
from hq.records import (ALERT_STATE_JA, KIND_JA, NONE_MARK, AlertAction, AlertRow, BallotSide, ConsoleData,
                        StationRow)


class Tab(str, Enum):
    ALERTS = "alerts"
    STATIONS = "stations"
    TURNOUT = "turnout"
    AGE = "age"
    ACTIONS = "actions"


TAB_JA = {Tab.ALERTS: "警告", Tab.STATIONS: "端末", Tab.TURNOUT: "投票者数", Tab.AGE: "年齢確認", Tab.ACTIONS: "操作"}

# alert workflow: state -> states it may move to (open → investigating → resolved; reopen allowed)
ALERT_MOVES: dict[str, tuple[str, ...]] = {
    "open": ("investigating", "resolved"),
    "investigating": ("resolved", "open"),
    "resolved": ("investigating",),
}
MOVE_JA = {"investigating": "調査を開始", "resolved": "解決として記録", "open": "未対応に戻す"}


class ConsoleBackend(Protocol):
    async def set_alert(self, alert_id: int, state: str, who: str, note: str) -> dict[str, Any]: ...

    async def revoke(self, terminal: str, reason: str) -> dict[str, Any]: ...

    async def absentee(self, voter: str, contests: list[str] | None) -> dict[str, Any]: ...

    async def publish_roll(self, full: bool) -> dict[str, Any]: ...


# --- view models ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BallotCell:
    station: str  # "C01 横浜駅 共通投票所"
    terminal: str  # "端末 T-C01-2・受付 35 番"
    clerk: str  # "担当 C01-係2"
    time: str  # "4月25日 13:41:00"
    mode: str  # "オフライン受付（仮）" / "オンライン受付"
    provisional: bool


@dataclass(frozen=True)
class AlertButton:
    state: str
    label: str
    enabled: bool


@dataclass(frozen=True)
class AlertCard:
    alert_id: int
    title: str
    state: str
    state_label: str
    severity: str  # "open" / "investigating" / "resolved" / "cleared" (a void ended it)
    sides: tuple[BallotCell, ...]
    history: tuple[str, ...]
    buttons: tuple[AlertButton, ...]
    selected: bool


@dataclass(frozen=True)
class StationLine:
    station: str
    kind: str
    terminal: str
    status: str  # 接続中 / 未接続 / 失効 / 保留（複製の疑い） / 端末なし
    severity: str  # "ok" / "warn" / "bad" / "idle"
    last_contact: str
    pending: str
    today: str
    signal: str
    carrier: str
    note: str


@dataclass(frozen=True)
class ChartSeries:
    label: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class TurnoutChart:
    day: str
    hours: tuple[str, ...]
    series: tuple[ChartSeries, ...]
    max_value: int
    kind_totals: tuple[str, ...]
    total_line: str


@dataclass(frozen=True)
class Confirmation:
    action: str  # "revoke" / "absentee" / "publish"
    title: str
    body: str
    params: dict[str, Any] = field(default_factory=dict)


def _time(iso: str) -> str:
    if not iso:
        return NONE_MARK
    dt = datetime.fromisoformat(iso)
    return f"{dt.month}月{dt.day}日 {dt:%H:%M:%S}"


def _ago(iso: str, now_iso: str) -> str:
    if not iso:
        return NONE_MARK
    dt, now = datetime.fromisoformat(iso), datetime.fromisoformat(now_iso)
    s = int((now - dt).total_seconds())
    if s < 0:
        s = 0
    if s < 60:
        rel = f"{s}秒前"
    elif s < 3600:
        rel = f"{s // 60}分前"
    elif s < 86400:
        rel = f"{s // 3600}時間前"
    else:
        rel = f"{s // 86400}日前"
    same_day = dt.date() == now.date()
    return f"{dt:%H:%M:%S}（{rel}）" if same_day else f"{dt.month}/{dt.day} {dt:%H:%M}（{rel}）"


def _cell(b: BallotSide) -> BallotCell:
    return BallotCell(f"{b.station} {b.station_name}", f"端末 {b.terminal}・受付 {b.seq} 番",
                      f"担当 {b.clerk or NONE_MARK}", _time(b.at),
                      "オフライン受付（仮）" if b.provisional else "オンライン受付", b.provisional)


class ConsolePresenter:
    def __init__(self, backend: ConsoleBackend) -> None:
        self.backend = backend
        self.tab = Tab.ALERTS
        self.data: ConsoleData | None = None
        self.link = ""  # how the console reaches HQ (shown in the header)
        self.rehearsal: dict[str, Any] | None = None  # HQ's rehearsal switch on: the test ledger's figures
        self.age_checks: list[Any] = []  # console.age.AgeRow: 年齢確認 voters, from the backend
        self.selected_alert: int | None = None
        self.operator = ""
        self.note = ""
        self.confirmation: Confirmation | None = None
        self.message = ""
        self.error = ""
        self.busy = False
        self._listeners: list[Callable[[], None]] = []
        self._latest_hourly: tuple[tuple[Any, ...], list[Any]] | None = None

    # --- change notification ------------------------------------------------------------
    def subscribe(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    def on_data(self, data: ConsoleData) -> None:
        self.data = data
        if self.selected_alert is not None and not any(a.alert_id == self.selected_alert for a in data.alerts):
            self.selected_alert = None
        self._changed()

    # --- header and tabs ----------------------------------------------------------------
    def open_alerts(self) -> int:
        if self.data is None:
            return 0
        return sum(1 for a in self.data.alerts if a.active and a.state != "resolved")

    def flagged_counts(self) -> int:
        return 0 if self.data is None else sum(1 for h in self.latest_hourly() if h.flagged)

    def tab_labels(self) -> list[tuple[Tab, str]]:
        out = []
        for t in Tab:
            label = TAB_JA[t]
            if t is Tab.ALERTS:
                n = (self.open_alerts() + (len(self.data.alarms) + len(self.data.refusals) + len(self.data.rollbacks)
                                          if self.data else 0)
                     + self.flagged_counts())
                if n:
                    label += f"（{n}）"
            if t is Tab.AGE and self.age_checks:
                label += f"（{len(self.age_checks)}）"
            out.append((t, label))
        return out

    def header(self) -> str:
        if self.data is None:
            return "本部に接続しています…"
        d = self.data
        online = sum(1 for s in d.stations if s.online)
        terms = sum(1 for s in d.stations if s.terminal)
        return (self.rehearsal_line() + f"{d.election_name}（{d.election_id}）  {_time(d.at)} 現在  受信記録 {d.events} 件  "
                f"接続中の端末 {online}/{terms}" + (f"  {self.leader_line()}" if d.leader else "")
                + (f"  ［{self.link}］" if self.link else ""))

    def rehearsal_line(self) -> str:
        """While HQ's rehearsal switch is on, every page starts 【試験】 with the test ledger's own
        figures, apart from the real ones that follow (hq/rehearsal.py)."""
        r = self.rehearsal
        if not r:
            return ""
        terms = "、".join(r.get("terminals_in_test_mode", [])) or "なし"
        return (f"【試験】リハーサル中（試験台帳: 受付 {r.get('test_checkins', 0)} 件・二重投票の警告 "
                f"{r.get('test_alerts', 0)} 件・試験モードの端末 {terms}）｜以下は本番の記録  ")

    def leader_line(self) -> str:
        """Which HQ node leads the store and since when (two nodes on one PostgreSQL database)."""
        lead = self.data.leader if self.data is not None else None
        if lead is None:
            return ""
        return f"主系: {lead.node}（{lead.since.replace('T', ' ')[:16]}から）"

    def select_tab(self, tab: Tab | str) -> None:
        self.tab = Tab(tab)
        self._changed()

    # --- 年齢確認 -----------------------------------------------------------------------------
    def age_summary(self) -> str:
        rows = self.age_checks
        if not rows:
            return "生年月日が不詳で年齢確認が必要な選挙人はいません"
        done = sum(1 for a in rows if a.done)
        return (f"生年月日が不詳のため、受付で本人確認書類による年齢確認が必要な選挙人 {len(rows)} 人"
                f"（受付済 {done} 人・未受付 {len(rows) - done} 人）。投票所の端末は確認を求めます")

    def age_lines(self) -> list[tuple[str, str, bool]]:
        """(name as shown, details, checked in) per voter, 未受付 first, then kana order."""
        rows = sorted(self.age_checks, key=lambda a: (a.done, a.kana, a.voter_id))
        return [(a.name, f"{a.kana}　生年月日 {a.birth}　第{a.district}投票区　選挙人番号 {a.voter_id}"
                 + ("　（判明部分で18歳未満）" if a.code == "underage" else "") + f"　{a.checked_in}", a.done)
                for a in rows]

    # --- alerts ---------------------------------------------------------------------------
    def alert_cards(self) -> list[AlertCard]:
        if self.data is None:
            return []
        return [self._card(a) for a in self.data.alerts]

    def _card(self, a: AlertRow) -> AlertCard:
        severity = "cleared" if not a.active else a.state
        label = ALERT_STATE_JA.get(a.state, a.state) + ("（取消により解消）" if not a.active else "")
        title = f"#{a.alert_id} 二重投票  選挙人 {a.voter}  {a.contest_name}"
        hist = tuple(f"{_time(h.at)} {ALERT_STATE_JA.get(h.state, h.state)}  {h.who}：{h.note or NONE_MARK}"
                     for h in a.history)
        buttons = tuple(AlertButton(s, MOVE_JA[s], True) for s in ALERT_MOVES.get(a.state, ()))
        return AlertCard(a.alert_id, title, a.state, label, severity, tuple(_cell(b) for b in a.ballots), hist,
                         buttons, a.alert_id == self.selected_alert)

    def rollback_lines(self) -> list[str]:
        """HQ went back in time (restored from a backup): first on the alerts screen, in red."""
        if self.data is None:
            return []
        return [f"{_time(r.at)} {r.message()}" for r in self.data.rollbacks]

    def refusal_lines(self) -> list[str]:
        """Check-ins HQ kept as evidence but did not count (hq/screen.py)."""
        if self.data is None:
            return []
        return [f"端末 {r.terminal} 受付 {r.seq} 番（{_time(r.at)}）: {r.message}" for r in self.data.refusals]

    def alarm_lines(self) -> list[str]:
        if self.data is None:
            return []
        return [f"端末 {al.terminal}（{al.station}）{al.seq} 番: {al.reason_ja} — 端末を保留中。回収して確認してください"
                for al in self.data.alarms]

    def latest_hourly(self) -> list[Any]:
        """The latest entered hour per station and contest (older hours are in the export).

        Kept until the hourly rows change: the header, the tab label and the alerts screen each
        ask for it on every refresh, and a large HQ holds many thousands of rows (the backend
        hands over the very same tuple while none changed)."""
        if self.data is None:
            return []
        rows = self.data.hourly
        if self._latest_hourly is not None and self._latest_hourly[0] is rows:
            return list(self._latest_hourly[1])
        latest: dict[tuple[str, str], Any] = {}
        for h in rows:
            latest[(h.station, h.contest)] = h  # rows are sorted by day and hour
        out = sorted(latest.values(), key=lambda h: (not h.flagged, h.station, h.contest))
        self._latest_hourly = (rows, out)
        return list(out)

    def count_lines(self) -> list[tuple[str, bool]]:
        """(text, flagged) per station and contest: the latest 名簿対照数 vs 交付数."""
        names = dict(self.data.contests) if self.data else {}
        out = []
        for h in self.latest_hourly():
            diff = "" if h.difference is None else f"{h.difference:+d}"
            out.append((f"{h.station} {h.station_name}  {names.get(h.contest, h.contest)}  {h.hour}時: "
                        f"名簿対照数 {h.matched} / 交付数 {h.issued}  差 {diff}"
                        + ("  ← 要確認" if h.flagged else ""), h.flagged))
        return out

    def select_alert(self, alert_id: int | None) -> None:
        self.selected_alert = alert_id
        self._changed()

    def set_operator(self, who: str) -> None:
        self.operator = who

    def set_note(self, note: str) -> None:
        self.note = note

    async def move_alert(self, alert_id: int, state: str) -> bool:
        """Record one workflow step of an alert (who and note from the inputs)."""
        self.message = self.error = ""
        row = next((a for a in (self.data.alerts if self.data else ()) if a.alert_id == alert_id), None)
        if row is None:
            return self._fail(f"警告 {alert_id} 番はありません")
        if state not in ALERT_MOVES.get(row.state, ()):
            return self._fail(f"警告 {alert_id} 番は「{ALERT_STATE_JA.get(row.state, row.state)}」なので"
                              f"「{ALERT_STATE_JA.get(state, state)}」にはできません")
        who, note = self.operator.strip(), self.note.strip()
        if not who:
            return self._fail("対応者の名前を入力してください")
        if state == "resolved" and not note:
            return self._fail("解決として記録するには、対応の内容をメモに入力してください")
        try:
            self.busy = True
            await self.backend.set_alert(alert_id, state, who, note)
        except MeiboError as e:
            return self._fail(e.message)
        finally:
            self.busy = False
        self.message = f"警告 {alert_id} 番を「{ALERT_STATE_JA[state]}」として記録しました（{who}）"
        self.note = ""
        self._apply_local_move(alert_id, state, who, note)
        self._changed()
        return True

    def _apply_local_move(self, alert_id: int, state: str, who: str, note: str) -> None:
        """Show the step at once; the next data refresh brings the stored history."""
        if self.data is None:
            return
        rows = tuple(replace(a, state=state, history=a.history + (AlertAction(state, who, self.data.at, note),))
                     if a.alert_id == alert_id else a for a in self.data.alerts)
        self.data = replace(self.data, alerts=rows)

    def _fail(self, msg: str) -> bool:
        self.error = msg
        self._changed()
        return False

    # --- stations -------------------------------------------------------------------------
    def station_lines(self) -> list[StationLine]:
        if self.data is None:
            return []
        return [self._station(s, self.data.at) for s in self.data.stations]

    @staticmethod
    def _station(s: StationRow, now: str) -> StationLine:
        if not s.terminal:
            status, sev = "端末なし", "idle"
        elif s.revoked:
            status, sev = "失効", "bad"
        elif s.alarmed:
            status, sev = "保留（複製の疑い）", "bad"
        elif s.online:
            status, sev = "接続中", "ok"
        else:
            status, sev = "未接続", "warn"
        pend = f"{s.pending}" + (f"・未確認 {s.unacked_flags}" if s.unacked_flags else "")
        note = s.revoked_reason if s.revoked else ""
        return StationLine(f"{s.station} {s.station_name}", KIND_JA.get(s.kind, s.kind), s.terminal or NONE_MARK,
                           status, sev, _ago(s.last_contact, now), pend if s.terminal else NONE_MARK,
                           str(s.checkins_today) if s.terminal else NONE_MARK, s.signal, s.carrier, note)

    # --- turnout --------------------------------------------------------------------------
    def turnout_chart(self) -> TurnoutChart | None:
        if self.data is None:
            return None
        t = self.data.turnout
        series = tuple(ChartSeries(f"{s} {t.station_names.get(s, s)}", tuple(v)) for s, v in t.by_station.items())
        mx = max([1, *(x for s in series for x in s.values)])
        kinds = []
        for k in ("early", "common", "day", "absentee"):
            if k in t.by_kind_total or k in t.by_kind_today:
                kinds.append(f"{KIND_JA[k]}: 本日 {t.by_kind_today.get(k, 0)} 人／累計 {t.by_kind_total.get(k, 0)} 人")
        return TurnoutChart(t.day, tuple(f"{h}時" for h in t.hours), series, mx, tuple(kinds),
                            f"合計: 本日 {t.total_today} 人／累計 {t.total} 人")

    # --- actions with confirmation --------------------------------------------------------
    def terminals(self) -> list[str]:
        return [] if self.data is None else [s.terminal for s in self.data.stations if s.terminal and not s.revoked]

    def request_revoke(self, terminal: str, reason: str) -> bool:
        self.message = self.error = ""
        terminal, reason = terminal.strip(), reason.strip()
        if terminal not in self.terminals():
            return self._fail(f"端末 {terminal or '（未入力）'} は登録されていないか、すでに失効しています")
        if not reason:
            return self._fail("失効の理由を入力してください（例: 紛失、盗難）")
        st = next(s for s in self.data.stations if s.terminal == terminal) if self.data else None
        where = f"{st.station} {st.station_name}" if st else ""
        return self._ask(Confirmation("revoke", "端末の失効",
                                      f"端末 {terminal}（{where}）を失効させます。\n理由: {reason}\n"
                                      "以後この端末の接続と記録はすべて拒否されます。取り消せません。",
                                      {"terminal": terminal, "reason": reason}))

    def request_absentee(self, voter: str, contests: list[str] | None = None) -> bool:
        self.message = self.error = ""
        voter = voter.strip()
        if not voter.isdigit():
            return self._fail("選挙人番号を数字で入力してください")
        names = dict(self.data.contests) if self.data else {}
        wanted = contests or list(names)
        unknown = [c for c in wanted if c not in names]
        if unknown:
            return self._fail(f"選挙 {', '.join(unknown)} はこの選挙にありません")
        return self._ask(Confirmation("absentee", "不在者投票の記録",
                                      f"選挙人 {voter} の不在者投票を記録します。\n選挙: "
                                      + "、".join(names.get(c, c) for c in wanted)
                                      + "\n全投票所で投票済として扱われます。",
                                      {"voter": voter, "contests": contests or None}))

    def request_publish(self, full: bool = False) -> bool:
        self.message = self.error = ""
        return self._ask(Confirmation("publish", "名簿の更新版の公開",
                                      "本部の名簿の次の版を署名して公開します"
                                      + ("（全件）" if full else "（前の版からの差分）")
                                      + "。\n各端末は次の同期で受け取ります。", {"full": full}))

    def _ask(self, c: Confirmation) -> bool:
        self.confirmation = c
        self._changed()
        return True

    def cancel(self) -> None:
        self.confirmation = None
        self.message = "取り消しました"
        self._changed()

    async def confirm(self) -> bool:
        c = self.confirmation
        if c is None:
            return False
        self.confirmation = None
        self.message = self.error = ""
        self.busy = True
        self._changed()
        try:
            if c.action == "revoke":
                await self.backend.revoke(c.params["terminal"], c.params["reason"])
                self.message = f"端末 {c.params['terminal']} を失効させました"
            elif c.action == "absentee":
                out = await self.backend.absentee(c.params["voter"], c.params["contests"])
                self.message = (f"不在者投票を記録しました: 選挙人 {c.params['voter']}（"
                                + "、".join(out.get("recorded", [])) + "）")
                if out.get("already_voted"):
                    self.message += f"  投票済のため記録しなかった選挙: {'、'.join(out['already_voted'])}"
            elif c.action == "publish":
                out = await self.backend.publish_roll(bool(c.params["full"]))
                self.message = f"名簿の第 {out.get('version')} 版を公開しました（{out.get('rows', 0)} 件）"
            else:
                return self._fail(f"不明な操作です: {c.action}")
        except MeiboError as e:
            return self._fail(e.message)
        finally:
            self.busy = False
        self._changed()
        return True
