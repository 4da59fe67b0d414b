"""HQ's card desk in the demo: terminals enrolled with (virtual) smart cards over a private pcscd,
through the same ``meibo provision issue-card`` and ``meibo terminal enroll`` an office runs.
``CardDesk.open`` raises ``PcscUnavailable`` where pcscd / vpcd cannot start; the demo then
enrolls directly and says so.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir
from ground.errors import MeiboError
from provisioning.applet import blank_card
from provisioning.pcsc_service import PcscdService, PcscUnavailable, start_pcscd, stop_pcscd
from provisioning.virtual_card import VirtualCard, VirtualCardSettings
from tooling.lifeline import popen
from tooling.meibo_process import free_port, meibo_argv, run_meibo


@dataclass(frozen=True)
class CardDeskSettings:
    card_wait_s: float = 5.0  # pcscd sees a (virtual) card inserted / removed within this
    provisioning_stop_s: float = 10.0


class CardDesk:
    """HQ's card desk for the demo: a private pcscd with the vpcd reader, one virtual card slot and
    ``meibo hq provisioning`` (the enrollment endpoint) on a free loopback port. For each terminal a
    new blank card goes into the reader, ``meibo provision issue-card`` writes it and
    ``meibo terminal enroll`` enrolls the terminal from it (which also installs HQ's signed roll),
    exactly as an election office does with a real reader; then the used card is pulled."""

    def __init__(self, root: Path, hq: HqDir, rng: random.Random, say: Any, pcscd: PcscdService,
                 settings: CardDeskSettings) -> None:
        self.root, self.hq, self.rng, self.say, self.pcscd, self.settings = root, hq, rng, say, pcscd, settings
        self.card_pin = root / "card.pin"
        self.card_pin.write_text("135790\n", "utf-8")
        self.endpoint: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.lock = threading.Lock()

    @classmethod
    def open(cls, root: Path, hq: HqDir, rng: random.Random, say: Any,
             settings: CardDeskSettings = CardDeskSettings()) -> "CardDesk":
        # a short path: the socket must fit in sun_path (108 bytes) whatever --dir is
        run_dir = Path(tempfile.mkdtemp(prefix="meibo-demo-pcscd-"))
        try:
            pcscd = start_pcscd(run_dir, fresh_process=True)  # the driver itself never spoke PC/SC
        except PcscUnavailable:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        desk = cls(root, hq, rng, say, pcscd, settings)
        try:
            desk._start_endpoint()
        except BaseException:
            desk.close()
            raise
        say(f"登録窓口を開設: PC/SC リーダー「{pcscd.reader_name(0)}」（仮想カード）、"
            f"本部の登録窓口 {desk.address}")
        return desk

    def _start_endpoint(self) -> None:
        port = free_port()
        log = open(self.root / "provisioning.log", "wb")
        p = popen(meibo_argv() + ["hq", "provisioning", str(self.hq.root), "--listen", f"127.0.0.1:{port}",
                                             "--dev-loopback", "--json"], stdout=subprocess.PIPE, stderr=log)
        log.close()
        self.endpoint = p
        assert p.stdout is not None
        line = p.stdout.readline()
        try:
            msg = json.loads(line)
        except ValueError:
            msg = {}
        if msg.get("code") != "listening":
            raise MeiboError(f"本部の登録窓口を開けません（{self.root / 'provisioning.log'} を参照）",
                             code="demo_step_failed")
        self.address = str(msg["address"])

    def enroll(self, terminal: str, station: str, tdir: Path, supervisor_pin: Path, slot: int = 0) -> None:
        """One terminal from a new blank card in reader ``slot`` (0 or 1; the two may run at once)."""
        # lazy: pulls in pyscard; kept off the start-up of every meibo command (cli/demo.py imports us)
        from hardware.cardreader.pcsc import PcscCardReader

        reader_name = self.pcscd.reader_name(slot)
        with self.lock:
            randbytes = random.Random(self.rng.random()).randbytes
        card = VirtualCard(blank_card(randbytes), randbytes, port=self.pcscd.port(slot),
                           settings=VirtualCardSettings(connect_timeout_s=self.settings.card_wait_s))
        reader = PcscCardReader()
        card.insert()
        try:
            if not reader.wait_for_card(reader_name, self.settings.card_wait_s):
                raise MeiboError(f"仮想カードがリーダーに認識されません:\n{self.pcscd.log_tail()}",
                                 code="demo_step_failed")
            wait = str(self.settings.card_wait_s)
            t0 = time.monotonic()
            issued = json.loads(run_meibo(["provision", "issue-card", str(self.hq.root), "--terminal", terminal,
                                           "--station", station, "--reader", reader_name,
                                           "--pin-file", str(self.card_pin), "--wait", wait, "--json"]).stdout)
            t1 = time.monotonic()
            done = json.loads(run_meibo(["terminal", "enroll", str(tdir), "--reader", reader_name,
                                         "--pin-file", str(self.card_pin), "--supervisor-pin-file", str(supervisor_pin),
                                         "--hq", self.address, "--wait", wait, "--json"]).stdout)
            t2 = time.monotonic()
            self.say(f"  リーダー {slot}: カード {issued['serial']} を発行（{t1 - t0:.1f} 秒）→ 端末 {terminal}"
                     f"（投票所 {station}）を登録し名簿 第 {done['roll_version']} 版を導入（{t2 - t1:.1f} 秒）")
        finally:
            card.remove()
            reader.wait_for_removal(reader_name, self.settings.card_wait_s)
            reader.close()

    def close(self) -> None:
        p = self.endpoint
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(self.settings.provisioning_stop_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p is not None and p.stdout is not None:
            p.stdout.close()
        stop_pcscd(self.pcscd)
        shutil.rmtree(self.pcscd.run_dir, ignore_errors=True)
