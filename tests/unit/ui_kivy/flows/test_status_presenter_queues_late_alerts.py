"""The status presenter on its own: late ALREADY_VOTED verdicts wait in a queue, oldest first, each
acknowledged in turn; the status bar follows the link, the radios and the scanner."""

from __future__ import annotations

from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.router import Router
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.service import RadioInfo


async def test_late_alerts_queue_and_status(service: FakeKioskService) -> None:
    router = Router(service, "係員A")
    st = StatusPresenter(router)
    changes: list[int] = []
    router.subscribe(lambda: changes.append(1))
    a = await service.checkin("100001", "c", service.checkin_marks(oath_reason="work"))
    b = await service.checkin("100002", "c", service.checkin_marks(oath_reason="work"))
    assert a.seq is not None and b.seq is not None
    service.push_late_alert(a.seq, "shu", "D01", None)
    service.push_late_alert(b.seq, "mayor", "D01", None)
    assert st.alert is None
    st.tick()
    assert [x.seq for x in st.alerts] == [a.seq, b.seq] and st.alert is not None and "山田 太郎" in st.alert.body
    st.acknowledge_alert()
    assert st.alert is not None and st.alert.seq == b.seq
    st.acknowledge_alert()
    assert st.alert is None and changes
    st.set_radios([RadioInfo("modem0", True, 3, "docomo", True)])
    st.set_scanner(False)
    assert st.radios is not None and st.scanner_connected is False
