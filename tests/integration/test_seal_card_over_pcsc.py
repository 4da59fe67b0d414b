"""PIN + enrolled card over the real stack: `meibo provision issue-card` writes the card through
pyscard → private pcscd → vpcd → our virtual card; `meibo terminal seal-card` seals the store key
under PIN and that card; afterwards `terminal open` refuses the PIN alone and opens with the card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import atrest
from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import TerminalDir
from provisioning.virtual_card import VirtualCard
from tests.builders import EARLY_NOON, election_toml
from tests.pcsc_fixtures import PcscdService, pcscd_service, virtual_card  # noqa: F401

pytestmark = pytest.mark.pcsc
MEIBO = [sys.executable, "-m", "cli.main"]
PIN, CARD_PIN = "13579024", "246810"


def meibo(env: dict[str, str], *argv: str) -> tuple[int, dict[str, object]]:
    p = subprocess.run([*MEIBO, *argv, "--json"], capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, json.loads((p.stdout or p.stderr).strip().splitlines()[-1])


def test_seal_card_then_open_needs_the_card_over_pcsc(tmp_path: Path, pcscd_service: PcscdService,
                                                      virtual_card: VirtualCard) -> None:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq = tmp_path / "hq"
    hq_init(hq, cfg, FixedClock(EARLY_NOON))
    t = TerminalDir(tmp_path / "T01")
    enroll_local(hq, "T01", "E01", t.root, FixedClock(EARLY_NOON), pin=PIN)
    (tmp_path / "pin").write_text(PIN + "\n")
    (tmp_path / "card-pin").write_text(CARD_PIN + "\n")
    env = {**os.environ, atrest.RUNTIME_ENV: str(tmp_path / "shm")}
    reader = pcscd_service.reader_name(0)

    rc, out = meibo(env, "provision", "issue-card", str(hq), "--terminal", "T01", "--station", "E01",
                    "--reader", reader, "--pin-file", str(tmp_path / "card-pin"), "--wait", "5")
    assert rc == 0, out
    rc, out = meibo(env, "terminal", "seal-card", str(t.root), "--pin-file", str(tmp_path / "pin"),
                    "--card-pin-file", str(tmp_path / "card-pin"), "--reader", reader)
    assert rc == 0 and out["wrappings"] == ["pin+card"], out
    rc, out = meibo(env, "terminal", "open", str(t.root), "--pin-file", str(tmp_path / "pin"))
    assert rc != 0 and out["code"] == "card_required", out
    rc, out = meibo(env, "terminal", "open", str(t.root), "--pin-file", str(tmp_path / "pin"),
                    "--reader", reader, "--card-pin-file", str(tmp_path / "card-pin"))
    assert rc == 0 and out["code"] == "ok" and out["encrypted"] is True, out
    assert virtual_card.state.pin_tries == 3  # the right card PIN every time: nothing counted
