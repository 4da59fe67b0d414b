from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.search import KEYPAD


def _type(flow: KioskFlow, keys: str) -> None:
    for k in keys:
        flow.on_kana(k)


def test_keypad_has_every_basic_kana_and_is_ten_columns() -> None:
    keys = {k for row in KEYPAD for k in row}
    for k in "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンー":
        assert k in keys
    assert all(len(row) == 10 for row in KEYPAD)


def test_kana_search_then_pick_opens_confirm(flow: KioskFlow) -> None:
    flow.open_search()
    assert flow.screen is Screen.KANA
    _type(flow, "ヤマ")
    assert flow.search.state.query == "ヤマ"
    assert flow.search.state.count_text == "3 件"
    flow.show_results()
    assert flow.screen is Screen.RESULTS
    names = [r.name for r in flow.search.state.rows]
    assert names == ["山田 次郎", "山田 太郎", "山田 花子"]  # by kana: ジロウ < タロウ < ハナコ
    assert flow.search.state.rows[1].birth == "昭和60年4月1日（42歳）"
    flow.pick("100001")
    assert flow.screen is Screen.CONFIRM and flow.confirm is not None and flow.confirm.via == "search"


def test_voiced_mark_small_and_delete(flow: KioskFlow) -> None:
    flow.open_search()
    _type(flow, "サカ")
    flow.on_kana("゛")
    assert flow.search.state.query == "サガ"
    flow.on_kana("゛")  # pressed again: back to plain
    assert flow.search.state.query == "サカ"
    flow.on_kana("削除")
    assert flow.search.state.query == "サ"
    _type(flow, "ツ")
    flow.on_kana("小")
    assert flow.search.state.query == "サッ"
    flow.on_kana("全消去")
    assert flow.search.state.query == "" and flow.search.state.rows == ()


def test_birth_year_then_full_date_narrowing(flow: KioskFlow) -> None:
    flow.open_search()
    _type(flow, "ヤマダ")
    flow.show_results()
    flow.open_birth()
    assert flow.screen is Screen.BIRTH
    flow.birth_era("昭和")
    for d in "60":
        flow.birth_digit(d)
    assert flow.search.state.birth.text == "昭和 60年 __月 __日"
    flow.birth_apply()
    assert flow.screen is Screen.RESULTS
    assert [r.name for r in flow.search.state.rows] == ["山田 次郎", "山田 太郎"]
    assert flow.search.state.birth_filter == "生年 昭和60年"
    flow.open_birth()
    flow.birth_era("昭和")
    for d in "600401":
        flow.birth_digit(d)
    flow.birth_apply()
    assert [r.name for r in flow.search.state.rows] == ["山田 太郎"]
    assert flow.search.state.birth_filter == "生年月日 昭和60年4月1日"


def test_impossible_birth_date_stays_with_message(flow: KioskFlow) -> None:
    flow.open_search()
    _type(flow, "ヤ")
    flow.show_results()
    flow.open_birth()
    flow.birth_era("平成")
    for d in "010105":  # 平成元年1月5日: 昭和 still
        flow.birth_digit(d)
    flow.birth_apply()
    assert flow.screen is Screen.BIRTH
    assert "平成" in flow.search.state.message


def test_no_hit_says_so(flow: KioskFlow) -> None:
    flow.open_search()
    _type(flow, "ヌ")
    assert flow.search.state.count_text == "0 件" and "該当する方がいません" in flow.search.state.message


def test_every_shown_row_is_audit_logged(flow: KioskFlow) -> None:
    svc = flow.service
    before = len(svc.events)  # type: ignore[attr-defined]
    flow.open_search()
    _type(flow, "ヤマダ")
    assert len(svc.events) == before  # type: ignore[attr-defined]  # the keypad shows only a count
    flow.show_results()
    shown = [e.data for e in svc.events[before:]]  # type: ignore[attr-defined]
    assert [(d["voter"], d["via"]) for d in shown] == [("100003", "search"), ("100001", "search"),
                                                       ("100002", "search")]
