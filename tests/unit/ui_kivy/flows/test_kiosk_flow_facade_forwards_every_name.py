"""KioskFlow after the split (issue 17): every public name it had before still works, each
forwarded name lives on the flow presenter the table says, and state written through the facade
(``flow.on_enroll = …``) lands on that presenter."""

from __future__ import annotations

from ui_kivy.presenters.app_flow import KioskFlow, _To

BEFORE_SPLIT = """absentee acknowledge_alert add_hard_stop_action alert alerts back birth_apply birth_clear birth_digit
birth_era birth_next can can_confirm can_zaigai_checkin check_interrupted choose_oath clerk close_entry close_station
closing closing_backspace closing_digit closing_next closing_select confirm confirm_checkin counts_backspace
counts_digit counts_select counts_state declare declare_birth_clear declare_birth_next declare_digit declare_done
declare_era declare_kana declare_name_done declare_unlisted doubt_identity enroll enter_hourly_count idle interrupted
interrupted_handed interrupted_not_handed leave_tentative marks menu next_voter notice now on_barcode on_enroll
on_kana on_result_action on_scan_event open_birth open_counts open_report open_search open_station open_supervisor
open_void open_zaigai opening opening_ok pick pin pin_backspace pin_digit pin_submit radios refresh_status report
result result_shown result_voter_id scanner_connected screen search service set_radios settings show_opening
show_results status submit_closing submit_tentative subscribe tentative tentative_decided_by tentative_reason
tentative_toggle tick toggle_braille toggle_proxy unshown_seq void void_reason void_select void_state zaigai
zaigai_backspace zaigai_checkin zaigai_digit zaigai_here zaigai_letters zaigai_lookup""".split()


def test_every_name_before_the_split_still_answers(flow: KioskFlow) -> None:
    assert [n for n in BEFORE_SPLIT if not hasattr(flow, n)] == []


def test_each_forward_names_an_attribute_of_its_presenter(flow: KioskFlow) -> None:
    forwards = {n: v for n, v in vars(KioskFlow).items() if isinstance(v, _To)}
    assert len(forwards) > 90
    for name, fwd in forwards.items():
        part = getattr(flow.flows, fwd.part)
        assert hasattr(part, name), f"{name} is not on flows.{fwd.part}"


def test_state_written_through_the_facade_lands_on_the_presenter(flow: KioskFlow) -> None:
    calls: list[int] = []
    flow.on_enroll = lambda: calls.append(1)
    assert flow.flows.supervisor.on_enroll is flow.on_enroll
    assert flow.flows.checkin.marks is flow.marks
