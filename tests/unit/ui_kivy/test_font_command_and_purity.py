import subprocess
import sys
from pathlib import Path

import pytest

from ground.errors import UsageError
from cli.kiosk import _size
from ui_kivy.fonts import CANDIDATES, FontMissing, find_cjk_font


def test_no_cjk_font_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(FontMissing) as e:
        find_cjk_font([str(tmp_path / "none.ttf")], env={})
    assert "fonts-ipaexfont-gothic" in e.value.message and "apt-get install" in e.value.message
    assert e.value.code == "font_missing"


def test_font_override_and_default(tmp_path: Path) -> None:
    f = tmp_path / "x.ttf"
    f.write_bytes(b"\0")
    assert find_cjk_font([], env={"MEIBO_FONT": str(f)}) == f
    with pytest.raises(FontMissing):
        find_cjk_font(CANDIDATES, env={"MEIBO_FONT": str(tmp_path / "missing.ttf")})
    found = find_cjk_font(CANDIDATES, env={})  # this machine has fonts-ipaexfont-gothic
    assert found.name in ("ipaexg.ttf", "NotoSansCJK-Regular.ttc", "NotoSansCJKjp-Regular.otf",
                          "fonts-japanese-gothic.ttf")


def test_kiosk_size_argument() -> None:
    assert _size("1280x800") == (1280, 800)
    assert _size("1024x768") == (1024, 768)
    for bad in ("1280*800", "800x600", "big"):
        with pytest.raises(UsageError):
            _size(bad)


def test_presenters_service_and_command_never_import_kivy() -> None:
    code = ("import sys, ui_kivy.presenters.app_flow, ui_kivy.service, ui_kivy.fake_service, cli.kiosk, "
            "ui_kivy.demo_data, cli.main; cli.main.build_parser(); "
            "bad = [m for m in sys.modules if m == 'kivy' or m.startswith('kivy.')]; print(bad); "
            "sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).resolve().parents[3])
    assert r.returncode == 0, r.stdout + r.stderr
