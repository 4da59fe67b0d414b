from appliance.eligibility import VotedInfo
from tests.builders import jst
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.idle import PROMPT
from ui_kivy.presenters.result import ResultKind

from tests.unit.ui_kivy.conftest import barcode, check_in


def test_idle_shows_prompt_station_and_clerk(flow: KioskFlow) -> None:
    assert flow.screen is Screen.IDLE
    assert flow.idle.prompt == PROMPT == "入場整理券をスキャンしてください"
    assert flow.idle.station_name == "中区役所 期日前投票所"
    assert flow.idle.clerk == "係員A"
    assert flow.idle.station_open


async def test_scan_confirm_then_green_with_four_ballots_in_order(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100001"))
    assert flow.screen is Screen.CONFIRM
    c = flow.confirm
    assert c is not None and c.name == "山田 太郎" and c.kana == "ヤマダ タロウ"
    assert c.birth == "昭和60年4月1日（42歳）"
    assert c.can_hand and c.button_text == "受付（名簿対照）"
    assert all(p.ok for p in c.lines)
    r = await check_in(flow)
    assert r is not None and flow.screen is Screen.RESULT
    assert r.kind is ResultKind.OK and r.colour == "green" and r.title == "✓ 受付完了"
    assert [h.text for h in r.hand] == ["1. 衆議院小選挙区選出議員選挙", "2. 最高裁判所裁判官国民審査",
                                        "3. 神奈川県知事選挙", "4. 横浜市長選挙"]
    assert r.withhold == () and not r.hard_stop
    assert "4 枚" in r.subtitle
    # the lookup was audit-logged and the check-in recorded
    kinds = [e.kind.value for e in service.events]
    assert kinds[-2:] == ["lookup", "checkin"]
    flow.next_voter()
    assert flow.screen is Screen.IDLE


async def test_scan_from_result_goes_to_next_voter(flow: KioskFlow) -> None:
    flow.on_barcode(barcode("100001"))
    await check_in(flow)
    flow.on_barcode(barcode("100002"))
    assert flow.screen is Screen.CONFIRM and flow.confirm is not None and flow.confirm.name == "山田 花子"


def test_scan_refused_while_confirming_another(flow: KioskFlow) -> None:
    flow.on_barcode(barcode("100001"))
    flow.on_barcode(barcode("100002"))
    assert flow.confirm is not None and flow.confirm.name == "山田 太郎"
    assert flow.notice is not None and "確認中の方がいます" in flow.notice.text


async def test_hq_says_voted_elsewhere_withholds_that_ballot(flow: KioskFlow, service: FakeKioskService) -> None:
    service.hq_voted[("100001", "governor")] = VotedInfo("E02", "T02", jst(2027, 4, 20, 11, 5), 7)
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None and r.kind is ResultKind.MIXED
    assert [h.name for h in r.hand] == ["衆議院小選挙区選出議員選挙", "最高裁判所裁判官国民審査", "横浜市長選挙"]
    assert r.withhold[0].text == "× 神奈川県知事選挙"
    assert "関内駅前 期日前投票所 4月20日 11:05" in r.withhold[0].reason
