"""``meibo kiosk TDIR --hq A --hq B`` names both HQ nodes, in the order to try them, as
``meibo terminal run`` does: a malformed or repeated address is refused before any window opens
(hq_address_malformed / hq_address_duplicate, in Japanese, nothing created); accepted ones reach
the kiosk's sync agent in order (the real agent of a real enrolled terminal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ui_kivy.app
from cli import main as cli
from tests.integration.sync_env import make_env
from ui_kivy.app import StationRun
from ui_kivy.fonts import find_cjk_font
from ui_kivy.rehearsal_service import open_kiosk_terminal


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, json.loads(out.out or out.err)


@pytest.mark.parametrize("addresses, code, words", [
    (["hq.example"], "hq_address_malformed", "host:port"),
    (["127.0.0.1:8443", "127.0.0.1:99999"], "hq_address_malformed", "host:port"),
    (["127.0.0.1:8443", "10.0.0.2:8443", "127.0.0.1:8443"], "hq_address_duplicate", "重複"),
])
def test_bad_hq_refused_before_anything_opens(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              addresses: list[str], code: str, words: str) -> None:
    argv = ["kiosk", str(tmp_path / "T01"), "--json"]
    for a in addresses:
        argv += ["--hq", a]
    status, body = run(argv, capsys)
    assert status != 0 and body["code"] == code
    assert words in str(body["message"]) and "本部のアドレス" in str(body["message"])
    assert not (tmp_path / "T01").exists()


def test_every_hq_reaches_the_kiosk_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def no_window(tdir: Path, **kw: Any) -> None:  # the window itself is the rendered tests' part
        seen.update(kw)

    monkeypatch.setattr(ui_kivy.app, "run_kiosk", no_window)
    status, body = run(["kiosk", str(tmp_path / "T01"), "--hq", "10.0.0.2:8443", "--hq", "10.0.0.1:8443",
                        "--json"], capsys)
    assert status == 0 and body["code"] == "ok"
    assert seen["hq"] == ["10.0.0.2:8443", "10.0.0.1:8443"]
    status, body = run(["kiosk", str(tmp_path / "T01"), "--json"], capsys)
    assert status == 0 and seen["hq"] is None  # no --hq: the configured nodes


def test_the_kiosk_agent_dials_the_given_nodes_in_order(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    tdir = env.terminals["T01"]
    run_ = StationRun(tdir.root, clock=env.clock, clerk="係員", hq=["127.0.0.1:1", "127.0.0.1:2"], font=find_cjk_font())
    term, agent, _ = open_kiosk_terminal(tdir, env.clock, run_.hq)
    try:
        assert [n.address for n in agent.nodes.nodes] == ["127.0.0.1:1", "127.0.0.1:2"]
    finally:
        term.close()
    term, agent, _ = open_kiosk_terminal(tdir, env.clock, StationRun(
        tdir.root, clock=env.clock, clerk="係員", hq="127.0.0.1:3", font=find_cjk_font()).hq)
    try:
        assert [n.address for n in agent.nodes.nodes] == ["127.0.0.1:3"]  # one address still works
    finally:
        term.close()
    term, agent, _ = open_kiosk_terminal(tdir, env.clock, None)
    try:
        assert [n.address for n in agent.nodes.nodes] == [f"127.0.0.1:{env.port}"]  # as configured
    finally:
        term.close()
