"""What HQ staff do to the ledger besides ingest: 不在者投票, sneakernet import, reports,
alert workflow. Each works on a loaded ledger and its store, whether HQ is serving (the running
node calls these through its admin socket) or not (the command loads the ledger itself).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from ground.clock import Clock, JST
from ground.errors import UsageError
from ground.events import Event, EventKind
from ground.hlc import HybridClock, wall_ms_of
from ground.model import HQ_TERMINAL, TerminalId, VoterId
from sync_protocol.codec import Frame, FrameType
from sync_protocol.errors import BatchRejected, FrameInvalid
from hq.store import ALERT_STATES, HqStore
from sync_protocol.journal_file import read_journal_file
from hq.ledger import Ledger
from hq.session import HqSession


def refuse_behind_leader(store: HqStore) -> None:
    """An offline write (no node serving on this machine, so the command writes itself) on a
    PostgreSQL store is refused while another HQ node leads, i.e. holds the lead lock
    (hq/standby.py): it would write behind that node's ledger, unfenced. Reads are not refused.
    On hq.db nothing to check: one HQ per file, and a serving node answers through its socket."""
    if store.url.backend != "postgresql":
        return
    from hq.standby import LeadLock  # lazy: psycopg loads only for a PostgreSQL store
    lock = LeadLock(store.url.dsn)
    try:
        free = lock.free()
    finally:
        lock.close()
    if not free:
        raise UsageError("別の本部ノードが主系として稼働中です。このコマンドはその本部ノード（主系）の上で実行してください"
                         "（主系の裏で本部記録に書き込まないため、何も記録していません）", code="hq_leader_running")

def hlc_iso(hlc: int) -> str:
    return datetime.fromtimestamp(wall_ms_of(hlc) / 1000, JST).isoformat(timespec="seconds")


def record_absentee(store: HqStore, ledger: Ledger, voter: str, contests: list[str] | None,
                    clock: Clock) -> tuple[dict[str, Any], list[Event]]:
    """不在者投票 recorded at HQ: counts as voted everywhere; refused for a contest the voter
    already received (that would be a second ballot). Applies to the ledger; the caller commits
    the returned events before telling anyone."""
    config = store.config
    wanted = contests or list(config.contest_ids)
    unknown = [c for c in wanted if c not in config.contest_ids]
    if unknown:
        raise UsageError(f"選挙 {', '.join(unknown)} はこの選挙にありません", code="contest_unknown")
    taken = {c: ledger.holder(VoterId(voter), c) for c in wanted}
    already = {c: r for c, r in taken.items() if r is not None}
    todo = [c for c in wanted if c not in already]
    if not todo:
        first = next(iter(already.values()))
        raise UsageError(f"選挙人 {voter} はすでに投票済みです（{first.station}、{hlc_iso(first.hlc)}）",
                         code="already_voted")
    ts = ledger.terminals[HQ_TERMINAL]
    hlc = HybridClock(clock, _last_hlc(ledger)).tick()
    ev = Event(EventKind.ABSENTEE, ts.acked_seq + 1, hlc, HQ_TERMINAL,
               {"voter": voter, "contests": todo, "station": "HQ"})
    ledger.apply(ev)
    return {"code": "ok", "voter": voter, "recorded": todo, "already_voted": sorted(already), "seq": ev.seq}, [ev]


def record_absentee_notice(ledger: Ledger, voter: str, contests: list[str], state: str,
                           clock: Clock) -> tuple[dict[str, Any], list[Event]]:
    """The state of a voter's 不在者 papers, sent to every terminal (they warn, never block).
    Applies to the ledger; the caller commits the returned events."""
    ts = ledger.terminals[HQ_TERMINAL]
    hlc = HybridClock(clock, _last_hlc(ledger)).tick()
    ev = Event(EventKind.ABSENTEE_STATUS, ts.acked_seq + 1, hlc, HQ_TERMINAL,
               {"voter": voter, "contests": list(contests), "state": state})
    ledger.apply(ev)
    return {"code": "ok", "voter": voter, "contests": list(contests), "state": state, "seq": ev.seq}, [ev]


def _last_hlc(ledger: Ledger) -> int:
    recs = [r for (t, _), r in ledger.checkins.items() if t == HQ_TERMINAL]
    notices = [e.hlc for e in ledger.other_events if e.terminal == HQ_TERMINAL]
    return max([r.ref.hlc for r in recs] + notices, default=0)


def import_journal(ledger: Ledger, path: Path, record_alarm: Callable[[Any], None]
                   ) -> tuple[dict[str, Any], list[Event]]:
    """Apply a sneakernet journal file through the same session code as the network path.
    The caller commits the returned events (all or nothing) before reporting success."""
    header, frames = read_journal_file(path)
    terminal = TerminalId(str(header["terminal"]))
    if header.get("election") != ledger.election_id:
        raise BatchRejected(f"{path}: 別の選挙（{header.get('election')}）の記録です", code="other_election")
    sess = HqSession(ledger, terminal)
    ts = ledger.terminals.get(terminal)
    if ts is None or ts.revoked:
        raise BatchRejected(f"{path}: 端末 {terminal} は登録されていないか失効しています", code="terminal_unknown")
    res = sess.receive(Frame(FrameType.HELLO, {"v": 1, "election": ledger.election_id, "terminal": terminal,
                                               "cursor": 0}))
    if res.close:
        raise BatchRejected(f"{path}: {res.send[0].header.get('message')}", code=str(res.send[0].header.get("code")))
    applied = dup = 0
    refused_before = len(ledger.refusals)
    accepted: list[Event] = []
    for frame in frames:
        if frame.type is not FrameType.BATCH:
            raise FrameInvalid(f"{path}: 一括送信以外のブロックがあります", code="journal_file_invalid")
        r = sess.receive(frame)
        if r.alarm is not None:
            record_alarm(r.alarm)
        if r.close:
            h = r.send[0].header
            raise BatchRejected(f"{path}: {h.get('message')}（{h.get('code')}）", code=str(h.get("code")))
        if r.send and r.send[0].type is FrameType.RESEND:
            raise BatchRejected(f"{path}: 記録に欠けがあります（{r.send[0].header['from']} 番から）", code="journal_gap")
        for ev in r.to_commit:
            ledger.apply(ev)
        accepted.extend(r.to_commit)
        applied += len(r.to_commit)
        dup += len(frame.events) - len(r.to_commit)
    # applied events whose check-in HQ did not count (screen.py): in the chain, never ballots
    refused = [r.as_dict() for r in ledger.refusals[refused_before:]]
    return {"code": "ok", "terminal": terminal, "applied": applied, "duplicates": dup,
            "acked_seq": ledger.terminals[terminal].acked_seq, "refused": refused}, accepted


def set_alert(store: HqStore, ledger: Ledger, alert_id: int, state: str, who: str, note: str,
              clock: Clock) -> dict[str, Any]:
    if state not in ALERT_STATES:
        raise UsageError(f"状態は {' / '.join(ALERT_STATES)} のいずれかです: {state}", code="alert_state_invalid")
    if not any(a.alert_id == alert_id for a in ledger.alert_log):
        raise UsageError(f"警告 {alert_id} 番はありません", code="alert_unknown")
    if not who.strip():
        raise UsageError("対応者を入力してください", code="who_required")
    store.set_alert_state(alert_id, state, who, clock.now().isoformat(timespec="seconds"), note)
    return {"code": "ok", "alert": alert_id, "state": state}


def report(store: HqStore, ledger: Ledger, online: set[str] | None = None) -> dict[str, Any]:
    contacts = store.contacts()
    states = store.alert_states()
    stations = []
    checkins: dict[str, int] = {}
    pending: dict[str, int] = {}
    for (t, _), rec in ledger.checkins.items():
        checkins[t] = checkins.get(t, 0) + 1
        pending[t] = pending.get(t, 0) + sum(1 for s in rec.state.values() if s.value == "pending")
    for t, ts in sorted(ledger.terminals.items()):
        if t == HQ_TERMINAL:
            continue
        c = contacts.get(t)
        stations.append({
            "terminal": t, "station": ts.station, "events": ts.acked_seq, "checkins": checkins.get(t, 0),
            "pending_outcomes": pending.get(t, 0), "online": bool(online and t in online),
            "last_contact": datetime.fromtimestamp(c[0], JST).isoformat(timespec="seconds") if c else None,
            "revoked": ts.revoked, "held": ts.held})
    alerts = []
    for a in ledger.alert_log:
        hist = states.get(a.alert_id, [])
        alerts.append({
            "id": a.alert_id, "voter": a.voter, "contest": a.contest, "active": a.active,
            "state": hist[-1]["state"] if hist else "open", "history": hist,
            "ballots": [{"terminal": b.terminal, "seq": b.seq, "station": b.station, "clerk": b.clerk,
                         "at": hlc_iso(b.hlc), "provisional": _provisional(ledger, b.terminal, b.seq)}
                        for b in a.ballots]})
    alarms = [{"terminal": al.terminal, "seq": al.seq, "reason": al.reason} for al in ledger.alarms]
    # check-ins whose body HQ did not believe (screen.py): evidence, never ballots
    refusals = [dict(r.as_dict(), at=hlc_iso(r.hlc)) for r in ledger.refusals]
    rollbacks = [{"terminal": t, "hq_acked": hq, "terminal_acked": term,
                  "at": datetime.fromtimestamp(at, JST).isoformat(timespec="seconds")}
                 for t, hq, term, at in store.rollbacks()]
    return {"code": "ok", "election": ledger.election_id, "stations": stations, "alerts": alerts,
            "alarms": alarms, "refusals": refusals, "rollbacks": rollbacks, "events": ledger.order, "voted": len(ledger.ballots),
            "active_alerts": sum(1 for a in alerts if a["active"])}


def _provisional(ledger: Ledger, terminal: str, seq: int) -> bool:
    rec = ledger.checkins.get((terminal, seq))
    if rec is None:
        return False
    return any(v.verdict.value == "already_voted" for v in rec.verdict.values())


def report_text(r: dict[str, Any]) -> str:
    lines = [f"選挙 {r['election']}  受信記録 {r['events']} 件  投票済（選挙別） {r['voted']} 件"]
    lines.append("端末:")
    for s in r["stations"]:
        flags = "".join([" [失効]" if s["revoked"] else "", " [保留: 複製の疑い]" if s["held"] else ""])
        lines.append(f"  {s['terminal']} ({s['station']}) {'接続中' if s['online'] else '未接続'}  "
                     f"記録 {s['events']}  受付 {s['checkins']}  結果待ち {s['pending_outcomes']}  "
                     f"最終通信 {s['last_contact'] or '—'}{flags}")
    active = [a for a in r["alerts"] if a["active"]]
    lines.append(f"二重投票の警告: {len(active)} 件（解消済みを含め {len(r['alerts'])} 件）")
    for a in r["alerts"]:
        mark = "" if a["active"] else "（取消により解消）"
        lines.append(f"  #{a['id']} 選挙人 {a['voter']} 選挙 {a['contest']} 状態 {a['state']}{mark}")
        for b in a["ballots"]:
            lines.append(f"     {b['station']} / {b['terminal']} 受付 {b['seq']} 番 {b['at']}"
                         + (" 仮（オフライン）" if b["provisional"] else ""))
    if r["alarms"]:
        lines.append(f"端末複製の警報: {len(r['alarms'])} 件")
        for al in r["alarms"]:
            lines.append(f"  {al['terminal']} {al['seq']} 番: {al['reason']}")
    for rb in r.get("rollbacks", ()):
        lines.insert(0, f"本部の記録が巻き戻っています（{rb['at']}）: 端末 {rb['terminal']} は {rb['terminal_acked']} 番まで"
                        f"本部の受領を確認していましたが、本部には {rb['hq_acked']} 番までしかありません")
    if r.get("refusals"):
        lines.append(f"受け付けなかった記録（投票済として数えていません）: {len(r['refusals'])} 件")
        for x in r["refusals"]:
            lines.append(f"  {x['terminal']} 受付 {x['seq']} 番 {x['at']} [{x['code']}] {x['message']}")
    return "\n".join(lines)
