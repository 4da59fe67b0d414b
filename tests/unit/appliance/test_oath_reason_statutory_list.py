"""宣誓書の事由 (公職選挙法48条の2第1項各号): codes, labels, required at early stations, refused
elsewhere, and counted by reason in the closing figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from appliance import procedures as P
from ground.clock import FixedClock
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, election_config, terminal_dir, voter


def test_six_statutory_reasons_with_labels() -> None:
    assert [r.value for r in P.OathReason] == ["work", "travel", "illness", "remote_area", "lives_outside", "disaster"]
    assert all(P.OATH_LABELS[r][1].startswith(f"{i}号") for i, r in enumerate(P.OathReason, 1))
    assert P.parse_oath_reason("1号") is P.OathReason.WORK
    assert P.parse_oath_reason("２") is P.OathReason.TRAVEL  # full-width digit
    assert P.parse_oath_reason("天災・悪天候で投票所に行くのが困難") is P.OathReason.DISASTER


@given(st.text(max_size=12))
def test_parser_never_crashes(text: str) -> None:
    try:
        r = P.parse_oath_reason(text)
    except P.OathReasonInvalid as e:
        assert "宣誓書の事由が読めません" in e.message
    else:
        assert isinstance(r, P.OathReason)


def test_required_at_early_refused_on_the_day() -> None:
    cfg = election_config()
    with pytest.raises(P.OathReasonRequired) as ei:
        P.checkin_marks(cfg.station("E01"))
    assert ei.value.code == "oath_reason_required" and "宣誓書の事由" in ei.value.message
    assert P.checkin_marks(cfg.station("E01"), oath_reason="仕事・用務に従事", proxy=True) == {
        "oath_reason": "work", "proxy": True}
    assert P.checkin_marks(cfg.station("E01"), require_oath=False) == {}  # rehearsal CLI only
    with pytest.raises(P.OathReasonInvalid):
        P.checkin_marks(cfg.station("D01"), oath_reason="work")
    assert P.checkin_marks(cfg.station("D01"), braille=True) == {"braille": True}


def test_counted_by_reason_with_proxy_and_braille(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", [voter(f"10000{i}") for i in range(1, 5)], station="E01")
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:
        for vid, reason, extra in (("100001", "work", {}), ("100002", "work", {"proxy": True}),
                                   ("100003", "illness", {"braille": True})):
            t.checkin(vid, "c1", P.checkin_marks(t.station, oath_reason=reason, **extra))
        figs = P.station_figures(t)
    assert figs.oath_reasons == {"illness": 1, "work": 2}
    assert (figs.voters, figs.proxy, figs.braille) == (3, 1, 1)
    assert "宣誓書の事由: 疾病・負傷・妊娠・身体の障害等で歩行困難 1、仕事・用務に従事 2" in figs.text(t.config)
