"""Enrollment with two HQ nodes (issue 18): ``enroll(hq=[first, second])`` passes over an
enrollment address nobody answers at and enrolls at the next, saying which one served; one that
answers and refuses ends the enrollment there (another node of the same HQ would refuse alike).
Fake reader, real TLS enrollment servers (hq/enroll_server.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from appliance.dirs import HqDir
from ground.errors import MeiboError
from hq.enroll_server import EnrollService, serve_enrollment
from provisioning.enroll_client import EnrollSettings, enroll
from tests.builders import election_toml
from hq.terminals import hq_init
from provisioning.applet import Applet
from tests.unit.provisioning.test_enroll_forged_card_and_replay import CLOCK, PIN, card_in_reader
from tests.unit.provisioning.test_enroll_forged_card_and_replay import hq as hq  # noqa: F401  (the fixture)

FAST = EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0)


def uses(applet: object) -> int:
    assert isinstance(applet, Applet)
    return applet.state.use_counter


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_first_node_down_the_second_enrolls_and_is_named(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    down = f"127.0.0.1:{closed_port()}"
    ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", 0)
    said: list[str] = []
    try:
        r = await enroll(tmp_path / "T01", reader, "r", lambda _t: PIN, CLOCK, hq=[down, f"127.0.0.1:{ep.port}"],
                         settings=FAST, progress=said.append)
    finally:
        await ep.stop()
    assert r.terminal == "T01" and r.enrolled_via == f"127.0.0.1:{ep.port}"
    assert (tmp_path / "T01" / "terminal.toml").exists() and uses(card.applet) == 1
    assert any(down in line and "次の登録窓口" in line for line in said)


async def test_a_node_that_answers_and_refuses_is_not_passed_over(hq: HqDir, tmp_path: Path) -> None:
    """The first node is another election's HQ (its CA is not the card's): hq_not_trusted, and the
    second, which would enroll, is never asked."""
    cfg = tmp_path / "other.toml"
    cfg.write_text(election_toml(election_id="other-election"), "utf-8")
    other = HqDir(tmp_path / "other-hq")
    hq_init(other.root, cfg, CLOCK)
    reader, card = card_in_reader(hq)
    wrong = await serve_enrollment(EnrollService(other, CLOCK), "127.0.0.1", 0)
    right = EnrollService(hq, CLOCK)
    ep = await serve_enrollment(right, "127.0.0.1", 0)
    try:
        with pytest.raises(MeiboError) as ei:
            await enroll(tmp_path / "T01", reader, "r", lambda _t: PIN, CLOCK,
                         hq=[f"127.0.0.1:{wrong.port}", f"127.0.0.1:{ep.port}"], settings=FAST)
    finally:
        await wrong.stop()
        await ep.stop()
    assert ei.value.code == "hq_not_trusted"
    assert not (tmp_path / "T01").exists() and uses(card.applet) == 0


async def test_every_node_down_is_hq_unreachable_naming_the_last(hq: HqDir, tmp_path: Path) -> None:
    reader, _ = card_in_reader(hq)
    a, b = f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"
    with pytest.raises(MeiboError) as ei:
        await enroll(tmp_path / "T01", reader, "r", lambda _t: PIN, CLOCK, hq=[a, b], settings=FAST)
    assert ei.value.code == "hq_unreachable" and b in ei.value.message
    assert not (tmp_path / "T01").exists()
