"""Opening check (election, contests, roll version vs HQ: red naming both on a mismatch) and
closing (a supervisor's act: check-ins refused with station_closed_for_day until reopened)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance import procedures as P
from cli.main import main
from ground.clock import FixedClock
from appliance.terminal import Terminal
from tests.builders import ELECTION_NOON, terminal_dir, voter

LOCAL = P.VersionInfo("yokohama-2027", ("shu", "governor"), 3)


def test_same_versions_ok() -> None:
    chk = P.opening_check(LOCAL, P.VersionInfo("yokohama-2027", ("shu", "governor"), 3))
    assert chk.ok and chk.problems == () and "本部と一致しています" in chk.text()


def test_roll_mismatch_names_both_versions() -> None:
    chk = P.opening_check(LOCAL, P.VersionInfo("yokohama-2027", None, 4))
    assert chk.status == "mismatch" and chk.codes == ("roll_version_mismatch",)
    assert "名簿の版が違います（この端末: 第3版、本部: 第4版）" in chk.text()
    assert "開設せず選挙管理委員会に連絡" in chk.text()


def test_contests_and_election_mismatch() -> None:
    chk = P.opening_check(LOCAL, P.VersionInfo("other-2027", ("shu",), 3))
    assert set(chk.codes) == {"election_mismatch", "contests_mismatch"}
    assert P.opening_check(LOCAL, None, refused="other_election").codes == ("election_mismatch",)


def test_unreachable_is_amber_and_no_roll_is_red() -> None:
    assert P.opening_check(LOCAL, None).status == "unchecked"
    nor = P.opening_check(P.VersionInfo("yokohama-2027", ("shu",), None), None)
    assert nor.status == "mismatch" and nor.codes == ("no_roll",)


def test_close_refuses_checkins_until_reopened(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", [voter("100001"), voter("100002")], station="D01")
    with Terminal(tdir, FixedClock(ELECTION_NOON)) as t:
        assert P.day_state(t.store).state == "never"
        P.open_station_day(t, "管理者A")
        P.ensure_accepting(t.store)
        t.checkin("100001", "c1", {"proxy": True})
        P.record_tentative(t, voter_id="100002", contests=["shu"], reason="supervisor_refusal",
                           decided_by="管理者A", clerk="c1")
        figs = P.close_station_day(t, "管理者A", {"shu": (500, 2, 497), "governor": (None, 1, 300)})
        assert figs.voters == 1 and figs.tentative == 1 and figs.proxy == 1
        shu = next(c for c in figs.contests if c.contest == "shu")
        assert (shu.matched, shu.issued, shu.received, shu.left, shu.difference) == (1, 2, 500, 497, 1)
        assert [c.contest for c in figs.flagged] == ["shu"]
        assert "差 +1（確認してください）" in figs.text(t.config)
        with pytest.raises(P.StationClosedForDay) as ei:
            P.ensure_accepting(t.store)
        assert ei.value.code == "station_closed_for_day" and "閉鎖されています" in ei.value.message
        with pytest.raises(P.StationClosedForDay):
            P.record_tentative(t, voter_id="100002", contests=["shu"], reason="supervisor_refusal",
                               decided_by="管理者A", clerk="c1")
        with pytest.raises(Exception) as again:
            P.close_station_day(t, "管理者A")
        assert getattr(again.value, "code", "") == "station_state"
        P.open_station_day(t, "管理者A")
        P.ensure_accepting(t.store)


def test_cli_open_check_offline_and_close(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tdir = terminal_dir(tmp_path / "t", [voter("100001")], station="D01")
    now = ELECTION_NOON.isoformat()
    rc = main(["terminal", "open-check", str(tdir.root), "--offline", "--open-as", "管理者", "--now", now, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["problems"] == ["no_roll"] and out["opened"] is False  # no roll installed: red
    rc = main(["terminal", "close-station", str(tdir.root), "--clerk", "管理者", "--final", "shu:10:0:10",
               "--now", now, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["voters"] == 0 and out["contests"][0]["left"] == 10
    rc = main(["terminal", "close-station", str(tdir.root), "--clerk", "管理者", "--now", now, "--json"])
    assert rc != 0 and json.loads(capsys.readouterr().out)["code"] == "station_state"
