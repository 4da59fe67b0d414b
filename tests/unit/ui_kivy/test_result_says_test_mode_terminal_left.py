"""HQ's "R" verdict on the kiosk (issue 19 part 3): the contests HQ refused to count are × 交付しない
with the reason 試験モードの端末が残っています — not 投票済 (the voter has no ballot anywhere) and
not オフライン受付; the other lines are left as they were. Pure, no window."""

from __future__ import annotations

from ui_kivy.presenters.result import ResultKind, result_state
from ui_kivy.service_values import BallotLine, CheckinAnswer, Outcome, VoterCard, with_hq_refusals


def _card() -> VoterCard:
    return VoterCard("100001", "山田 太郎", "ヤマダ タロウ", None, "", 30, "男", "横浜市中区", 1, "")


def test_refused_contests_say_why_and_are_not_voted() -> None:
    lines = (BallotLine("shu", "衆議院小選挙区", Outcome.HAND, "ok"), BallotLine("mayor", "市長", Outcome.HAND, "ok"))
    out = with_hq_refusals(lines, {"shu": "station_in_rehearsal", "mayor": "station_in_rehearsal"})
    assert [(ln.outcome, ln.code) for ln in out] == [(Outcome.REFUSED, "station_in_rehearsal")] * 2
    state = result_state(CheckinAnswer(7, _card(), out, False))
    assert state.kind is ResultKind.INELIGIBLE and state.hand == () and not state.hard_stop
    assert all(w.reason.startswith("試験モードの端末が残っています") for w in state.withhold)


def test_no_refusal_changes_nothing_and_an_unknown_code_still_stops() -> None:
    lines = (BallotLine("shu", "衆議院小選挙区", Outcome.HAND, "ok"),)
    assert with_hq_refusals(lines, {}) == lines
    (ln,) = with_hq_refusals(lines, {"shu": "some_new_code"})
    assert ln.outcome is Outcome.REFUSED and "本部" in ln.reason
