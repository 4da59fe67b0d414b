"""ConsolePresenter view states on the demo day, without a window: alerts first and side by
side, the workflow table, stations, turnout, actions only after confirmation, backend errors."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from ground.errors import MeiboError
from hq.records import console_data
from ui_kivy.console.demo import DEMO_NOW, demo_config, demo_ledger
from ui_kivy.console.presenter import ALERT_MOVES, ConsolePresenter, Tab


class RecordingBackend:
    """Records the calls; ``fail`` makes the next call raise as the real backends do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: MeiboError | None = None

    async def _do(self, name: str, *args: Any) -> dict[str, Any]:
        self.calls.append((name, args))
        if self.fail is not None:
            raise self.fail
        return {"code": "ok", "recorded": ["shu"], "already_voted": ["governor"], "version": 2, "rows": 5}

    async def set_alert(self, alert_id, state, who, note):
        return await self._do("set_alert", alert_id, state, who, note)

    async def revoke(self, terminal, reason):
        return await self._do("revoke", terminal, reason)

    async def absentee(self, voter, contests):
        return await self._do("absentee", voter, contests)

    async def publish_roll(self, full):
        return await self._do("publish", full)


def presenter() -> tuple[ConsolePresenter, RecordingBackend]:
    ledger, facts = demo_ledger()
    b = RecordingBackend()
    p = ConsolePresenter(b)
    p.on_data(console_data(ledger, demo_config(), facts, DEMO_NOW))
    return p, b


def test_presenter_module_imports_no_kivy():
    for name in ("presenter.py", "demo.py", "backend.py", "font.py", "daily_pdf.py", "live.py"):
        tree = ast.parse((Path(__file__).parents[4] / "ui_kivy" / "console" / name).read_text("utf-8"))
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(m.split(".")[0] == "kivy" for m in mods), name


def test_before_data_the_header_says_connecting_and_lists_are_empty():
    p = ConsolePresenter(RecordingBackend())
    assert p.header().startswith("本部に接続") and p.alert_cards() == [] and p.turnout_chart() is None


def test_alerts_tab_is_first_and_counts_open_alerts_and_count_differences():
    p, _ = presenter()
    assert p.tab is Tab.ALERTS
    labels = dict(p.tab_labels())
    assert list(labels)[0] is Tab.ALERTS
    assert labels[Tab.ALERTS] == "警告（3）"  # two unresolved double votes + D01's 交付数 difference


def test_open_alerts_come_first_with_both_checkins_side_by_side():
    p, _ = presenter()
    cards = p.alert_cards()
    assert [c.severity for c in cards] == ["open", "investigating", "resolved"]
    first = cards[0]
    assert "100777" in first.title and "神奈川県知事選挙" in first.title
    left, right = first.sides
    assert left.station.startswith("E01") and left.mode == "オンライン受付"
    assert right.station.startswith("C01") and right.mode == "オフライン受付（仮）" and "C01-係2" in right.clerk
    assert [b.state for b in first.buttons] == list(ALERT_MOVES["open"])
    assert cards[2].history[-1].endswith("C01 で本人確認の誤り。投票録に記載済み")


def test_count_difference_line_is_flagged_first():
    p, _ = presenter()
    text, flagged = p.count_lines()[0]
    assert flagged and "D01" in text and "差 +1" in text and "要確認" in text


async def test_workflow_step_needs_who_and_resolving_needs_a_note():
    p, b = presenter()
    aid = p.alert_cards()[0].alert_id
    assert not await p.move_alert(aid, "investigating") and "対応者" in p.error
    p.set_operator("選管 田中")
    assert not await p.move_alert(aid, "resolved") and "メモ" in p.error
    assert b.calls == []
    assert await p.move_alert(aid, "investigating")
    assert b.calls == [("set_alert", (aid, "investigating", "選管 田中", ""))]
    card = next(c for c in p.alert_cards() if c.alert_id == aid)
    assert card.state == "investigating" and "選管 田中" in card.history[-1]


async def test_illegal_workflow_move_is_refused_and_changes_nothing():
    p, b = presenter()
    resolved = next(c for c in p.alert_cards() if c.state == "resolved")
    p.set_operator("x")
    assert not await p.move_alert(resolved.alert_id, "resolved")
    assert "できません" in p.error and b.calls == []
    assert next(c for c in p.alert_cards() if c.alert_id == resolved.alert_id).state == "resolved"


async def test_backend_error_is_shown_in_japanese():
    p, b = presenter()
    b.fail = MeiboError("本部サーバに接続できません", code="hq_unreachable")
    p.set_operator("x")
    assert not await p.move_alert(p.alert_cards()[0].alert_id, "investigating")
    assert p.error == "本部サーバに接続できません"


def test_stations_show_status_signal_and_stations_without_terminal():
    p, _ = presenter()
    lines = {l.terminal: l for l in p.station_lines()}
    assert lines["T-C01-1"].status == "接続中" and lines["T-C01-1"].signal == "-87 dBm"
    assert lines["T-C01-1"].carrier == "NTTドコモ" and lines["T-C01-1"].last_contact.endswith("（4秒前）")
    assert lines["T-C01-2"].status == "未接続" and lines["T-C01-2"].severity == "warn"
    assert lines["T-D01-1"].pending == "0・未確認 3"
    assert lines["—"].status == "端末なし" and lines["T-E01-1"].signal == "—"


def test_turnout_chart_has_a_series_per_station_and_totals_by_kind():
    p, _ = presenter()
    ch = p.turnout_chart()
    assert ch is not None and ch.hours[0] == "7時"
    assert {s.label for s in ch.series} == {"C01 横浜駅 共通投票所", "D01 本町小学校"}
    assert ch.max_value == max(v for s in ch.series for v in s.values)
    assert any(k.startswith("共通投票所: 本日") for k in ch.kind_totals) and ch.total_line.startswith("合計")


async def test_revoke_needs_confirmation_and_cancel_does_nothing():
    p, b = presenter()
    assert not p.request_revoke("T-C01-2", "") and "理由" in p.error
    assert not p.request_revoke("T-NOPE", "紛失") and p.confirmation is None
    assert p.request_revoke("T-C01-2", "紛失")
    assert p.confirmation is not None and "T-C01-2" in p.confirmation.body and b.calls == []
    p.cancel()
    assert p.confirmation is None and b.calls == []
    p.request_revoke("T-C01-2", "紛失")
    assert await p.confirm()
    assert b.calls == [("revoke", ("T-C01-2", "紛失"))] and "失効" in p.message


async def test_absentee_and_publish_after_confirmation():
    p, b = presenter()
    assert not p.request_absentee("abc") and "数字" in p.error
    assert not p.request_absentee("100001", ["nope"]) and "nope" in p.error
    p.request_absentee("100001", ["shu"])
    assert "衆議院小選挙区選出議員選挙" in p.confirmation.body
    await p.confirm()
    assert b.calls[-1] == ("absentee", ("100001", ["shu"])) and "投票済のため記録しなかった選挙: governor" in p.message
    p.request_publish(full=True)
    assert "全件" in p.confirmation.body
    await p.confirm()
    assert b.calls[-1] == ("publish", (True,)) and "第 2 版" in p.message


def test_latest_hours_are_kept_until_the_rows_change():
    p, _ = presenter()
    first = p.latest_hourly()
    assert first and p.latest_hourly() == first
    # new rows (another refresh): recomputed, the flagged D01 row no longer among them
    from dataclasses import replace
    p.on_data(replace(p.data, hourly=tuple(h for h in p.data.hourly if h.station != "D01")))
    assert p.latest_hourly() and all(h.station != "D01" for h in p.latest_hourly())


def test_a_checkin_hq_did_not_believe_is_an_alert_line_and_counts_nowhere():
    """A terminal at D01 reporting a check-in "at C01" (screen.py: station_mismatch) is shown on
    the alerts screen as a check-in HQ did not count, and adds to the alerts tab's number."""
    from ui_kivy.console.demo import DEMO_DAY, EventMaker

    ledger, facts = demo_ledger()
    before = console_data(ledger, demo_config(), facts, DEMO_NOW)
    mk = EventMaker(ledger, {t: ts.acked_seq for t, ts in ledger.terminals.items()})
    mk.checkin("T-D01-1", "C01", "300001", DEMO_DAY.replace(hour=14, minute=5), ["governor"])
    p = ConsolePresenter(RecordingBackend())
    p.on_data(data := console_data(ledger, demo_config(), facts, DEMO_NOW))
    [line] = p.refusal_lines()
    assert "T-D01-1" in line and "C01" in line and "D01" in line and "投票済として記録していません" in line
    assert dict(p.tab_labels())[Tab.ALERTS] == "警告（4）"
    assert data.turnout == before.turnout
    assert [(r.station, r.checkins_today, r.checkins_total) for r in data.stations] == \
        [(r.station, r.checkins_today, r.checkins_total) for r in before.stations]
