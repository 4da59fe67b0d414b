from hardware.rig import HardwareSnapshot
from hardware.modem.base import ModemState, ModemStatus, Registration
from tests.builders import jst
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.service import radio_from_snapshot

from tests.unit.ui_kivy.conftest import barcode, check_in


def test_status_bar_fields(flow: KioskFlow, service: FakeKioskService) -> None:
    snap = HardwareSnapshot((ModemStatus("lte1", ModemState.READY, Registration.HOME, "NTT DOCOMO", 17,
                                         "meibo.lg.jp", "meibo.lg.jp"),), "lte1", (), None)
    flow.set_radios(radio_from_snapshot(snap))
    s = flow.status
    assert s.link_ok and s.link_text == "● 本部: 接続中"
    assert s.signal_text == "LTE ■■■□ NTT DOCOMO"
    assert s.last_sync_text == "最終同期 なし"
    assert s.clock_text == "4/20 12:00"
    service.online = False
    service.pending = 3
    flow.tick()
    assert not flow.status.link_ok and flow.status.link_text == "× 本部: 未接続（オフライン）"
    assert flow.status.pending_text == "未送信 3 件" and flow.status.pending_warn
    flow.set_radios([])
    assert flow.status.signal_text == "LTE: モデムなし"
    snap = HardwareSnapshot((ModemStatus("lte1", ModemState.READY, Registration.SEARCHING, None, 3),), "lte1", (),
                            None)
    flow.set_radios(radio_from_snapshot(snap))
    assert flow.status.signal_text == "LTE □□□□ 圏外"


async def test_late_already_voted_interrupts_any_screen(flow: KioskFlow, service: FakeKioskService) -> None:
    service.online = False
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None and r.seq is not None
    flow.next_voter()
    flow.open_search()
    service.push_late_alert(r.seq, "shu", "E02", jst(2027, 4, 20, 11, 30))
    assert flow.alert is None
    flow.tick()
    a = flow.alert
    assert a is not None and a.title == "！ 二重交付の疑い（本部から後で判明）"
    assert "山田 太郎" in a.body and "衆議院小選挙区選出議員選挙" in a.body
    assert "関内駅前 期日前投票所 4月20日 11:30" in a.body
    assert flow.screen is Screen.KANA  # the screen underneath is kept
    flow.acknowledge_alert()
    assert flow.alert is None
