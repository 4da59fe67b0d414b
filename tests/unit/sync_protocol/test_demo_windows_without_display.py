"""``meibo demo --console --kiosk`` with no display: nothing is started, the way to open each
window is said instead (and named in the JSON report)."""

from __future__ import annotations

from pathlib import Path

from tooling.demo_report import DemoReport
from tooling.demo_windows import display_available, gui_commands, kiosk_station, open_windows


def test_no_display_says_how_to_open_each_window(tmp_path: Path) -> None:
    said: list[str] = []
    report = DemoReport(hq_address="127.0.0.1:4711", revoked="TE03")
    out = open_windows(tmp_path, gui_commands(tmp_path, report, 6, console=True, kiosk=True),
                       {"HOME": "/root"}, said.append)
    assert [w["started"] for w in out] == [False, False]
    assert out[0]["command"] == f"meibo console {tmp_path / 'hq'} --dev-loopback"
    assert out[1]["command"].startswith(f"meibo kiosk {tmp_path / 'TC01'} --hq 127.0.0.1:4711")
    assert len(said) == 2 and all("開くには: meibo " in s for s in said)
    assert not list(tmp_path.iterdir())  # no log files: no process was started


def test_display_is_sdl_driver_or_x_display() -> None:
    assert not display_available({})
    assert display_available({"DISPLAY": ":0"})
    assert display_available({"SDL_VIDEODRIVER": "offscreen"})
    assert not display_available({"DISPLAY": ""})


def test_kiosk_goes_to_an_election_day_station_still_enrolled() -> None:
    assert kiosk_station(6, "").terminal == "TC01"
    assert kiosk_station(6, "TC01").terminal == "TD01"
    assert kiosk_station(6, "TC01").kind != "early"
    assert gui_commands(Path("/x"), DemoReport(), 6, console=False, kiosk=False) == []
