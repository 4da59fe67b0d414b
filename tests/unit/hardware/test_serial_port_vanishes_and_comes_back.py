"""hardware.serial_port on a real pty pair: bytes both ways, the device end unplugged (the
driver's end notices, the stable path is gone and opening it fails clearly), plugged back at the
same path (the driver's end opens it again and bytes flow), and closing twice is harmless."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import serial

from hardware.serial_port import PortUnavailable, PtyPort, SerialPort


def _open(path: str) -> Any:
    return serial.Serial(path, baudrate=115200, timeout=0, exclusive=True)


async def _until(cond: Any, what: str) -> None:
    for _ in range(200):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out: {what}")


async def test_port_vanishes_and_comes_back_at_the_same_path(tmp_path):
    link = tmp_path / "by-id" / "usb-sim-scanner"
    at_device: list[bytes] = []
    at_driver: list[bytes] = []
    lost: list[str] = []
    device = PtyPort(link, on_data=at_device.append)
    driver = SerialPort(str(link), _open, read_bytes=256, on_data=at_driver.append, on_lost=lost.append)
    try:
        device.open()
        assert device.is_open and link.is_symlink() and device.path == str(link)
        driver.open()
        driver.open()  # already open: nothing happens (one reader, one fd)
        assert driver.is_open

        device.write(b"1234567\r")
        await _until(lambda: b"".join(at_driver) == b"1234567\r", "device → driver")
        driver.write(b"AT\r")
        await _until(lambda: b"".join(at_device) == b"AT\r", "driver → device")

        # unplugged: the driver's read fails, it closes itself and says why; the path is gone
        device.close()
        await _until(lambda: bool(lost), "the driver noticing the hang-up")
        assert not driver.is_open and lost[0]
        assert not link.exists()
        device.write(b"lost\r")  # nobody hears a device without a cable: no error either
        with pytest.raises(PortUnavailable) as e:
            driver.open()
        assert str(link) in str(e.value) or "No such file" in str(e.value)
        assert not driver.is_open

        # plugged back: a new pty behind the same path; the driver opens it again
        at_driver.clear()
        device.open()
        driver.open()
        device.write(b"7654321\r")
        await _until(lambda: b"".join(at_driver) == b"7654321\r", "bytes after the replug")
        assert len(lost) == 1
    finally:
        driver.close()
        driver.close()
        device.close()
        device.close()
    assert not driver.is_open and not device.is_open


async def test_a_factory_error_of_any_foreign_kind_is_one_port_unavailable(tmp_path):
    for err in (serial.SerialException("busy"), OSError(13, "Permission denied"), ValueError("bad baud")):
        def factory(path: str, err: Exception = err) -> Any:
            raise err
        port = SerialPort(str(tmp_path / "x"), factory, read_bytes=16, on_data=lambda b: None,
                          on_lost=lambda r: None)
        with pytest.raises(PortUnavailable) as e:
            port.open()
        assert str(e.value) == str(err) and not port.is_open


def test_a_pty_port_without_a_link_gives_the_slave_path_once_open():
    port = PtyPort(None)
    with pytest.raises(AssertionError):
        _ = port.path
    port.open()
    try:
        assert port.path.startswith("/dev/pts/")
    finally:
        port.close()
