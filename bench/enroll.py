"""Enrollment benchmark: card inserted → terminal ready to check voters in, 1M-voter roll, LTE "good".

``run()`` prepares (and caches under /tmp/meibo-enroll-bench) an HQ directory with a published
1,000,000-voter synthetic roll (``MEIBO_BENCH_ENROLL_VOTERS`` to change it), then in the same
run: issues a card, starts HQ's enrollment endpoint behind a FaultProxy with profile "good"
(RTT 50–70 ms, 10 Mbit/s down, docs/lte-link.md), inserts the card and times ``enroll()`` (PIN,
keys, pinned TLS, card proof, roll download + install, commit) plus opening the new terminal
and one lookup. The card is the real stack (private pcscd + vpcd virtual card) when available,
else the in-process fake reader (printed). Goal: ≤ 60 s. Figures are printed and returned.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ground.clock import FixedClock
from hq.terminals import hq_init
from appliance.dirs import HqDir, TerminalDir
from hq.roll import import_roll, publish
from appliance.synth import SynthSettings, write_roll_file
from provisioning import cards, pki
from provisioning.card_client import Personalisation
from provisioning.enroll_client import enroll
from hq.enroll_server import EnrollService, serve_enrollment
from sync_protocol.fault_proxy import FaultProxy
from tests.builders import EARLY_NOON, election_toml
from hardware.cardreader.pcsc import PcscCardReader
from hardware.cardreader.fake import FakeCard, FakeCardReader
from provisioning.applet import Applet
from appliance.lookup import by_voter_id
from appliance.terminal import Terminal

CACHE = Path(os.environ.get("MEIBO_BENCH_ENROLL_CACHE", "/tmp/meibo-enroll-bench"))
CLOCK = FixedClock(EARLY_NOON)
PIN = "246810"
GOAL_S = 60.0


def _prepare(n: int) -> HqDir:
    """An HQ directory with the roll of ``n`` voters published (cached per n)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    hq = HqDir(CACHE / f"hq-{n}")
    if (hq.root / "READY").exists():
        return hq
    shutil.rmtree(hq.root, ignore_errors=True)
    csv = CACHE / f"roll-{n}.csv"
    if not csv.exists():
        write_roll_file(SynthSettings(voters=n, seed=1), csv)
    cfg = CACHE / "election.toml"
    cfg.write_text(election_toml(hq_address="127.0.0.1:18443"), "utf-8")
    t0 = time.perf_counter()
    hq_init(hq.root, cfg, CLOCK)
    import_roll(hq, csv, CLOCK)
    publish(hq, None, CLOCK, full=True)
    (hq.root / "READY").write_text("")
    print(f"  prepared HQ with {n:,} voters in {time.perf_counter() - t0:.1f} s")
    return hq


def _work_copy(src: HqDir, dst: Path) -> HqDir:
    # Hard links: the roll files are only read; everything enrollment writes is replaced atomically.
    shutil.copytree(src.root, dst, copy_function=os.link)
    return HqDir(dst)


class _Card:
    """The real PC/SC stack when it starts, else the fake reader."""

    def __init__(self, perso: Personalisation, tmp: Path) -> None:
        from tests.pcsc_fixtures import READER_SLOT0, PcscUnavailable, issued_state, start_pcscd
        self.state, self.pub = issued_state(perso, PIN)
        self.svc: Any = None
        try:
            self.svc = start_pcscd()
            self.reader: Any = PcscCardReader()
            self.name = READER_SLOT0
            self.card: Any = self.svc.card(self.state, slot=0, state_path=tmp / "card.json")
            self.kind = "PC/SC (pcscd + vpcd virtual card)"
        except PcscUnavailable as e:
            self.reader = FakeCardReader()
            self.name = "fake"
            self.reader.plug(self.name)
            self.card = FakeCard(self.reader, self.name, Applet(self.state, random.Random(1).randbytes))
            self.kind = f"fake reader (PC/SC unavailable: {e})"

    def insert(self) -> None:
        self.card.insert()
        self.reader.wait_for_card(self.name, 5.0)

    def close(self) -> None:
        self.card.remove()
        if self.svc is not None:
            from tests.pcsc_fixtures import stop_pcscd
            stop_pcscd(self.svc)


def run(voters: int | None = None) -> list[dict[str, Any]]:
    n = voters or int(os.environ.get("MEIBO_BENCH_ENROLL_VOTERS", "1000000"))
    print(f"enrollment benchmark ({n:,} voters, link profile good)")
    base = _prepare(n)
    with tempfile.TemporaryDirectory(prefix="meibo-enroll-", dir=CACHE) as d:
        tmp = Path(d)
        hq = _work_copy(base, tmp / "hq")
        cfg = hq.config()
        perso = Personalisation(cfg.election_id, cfg.hq_address, pki.ca_fingerprint(hq.pki), "T01", "E01")
        card = _Card(perso, tmp)
        cards.record_issued(hq.root, cards.CardRecord(
            serial=card.state.serial.hex().upper(), election_id=cfg.election_id, terminal_id="T01",  # type: ignore[arg-type]
            station_id="E01", public_key=card.pub.hex(), issued_at=CLOCK.now().isoformat()))  # type: ignore[arg-type]

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        async def start() -> tuple[Any, FaultProxy]:
            ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", 0)
            proxy = FaultProxy(("127.0.0.1", ep.port), rng=random.Random(1), profile="good")
            await proxy.start()
            return ep, proxy

        ep, proxy = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        addr = "%s:%d" % proxy.address
        try:
            card.insert()
            t0 = time.perf_counter()
            res = asyncio.run(enroll(tmp / "T01", card.reader, card.name, lambda tries: PIN, CLOCK, hq=addr))
            with Terminal.open(TerminalDir(tmp / "T01"), CLOCK) as term:
                vid = term.store.conn.execute("SELECT voter_id FROM voters LIMIT 1").fetchone()[0]
                assert by_voter_id(term.store.conn, vid).found
            total = time.perf_counter() - t0
        finally:
            async def stop() -> None:
                await proxy.close()
                await ep.stop()
            asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            card.close()
    t = res.timings
    dl = sum(v for k, v in t.items() if k.endswith("_download_s"))
    inst = sum(v for k, v in t.items() if k.endswith("_install_s"))
    print(f"  card: {card.kind}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  card + PIN + keys + pinned TLS + card proof: {t['to_proven_s']:.2f} s")
    print(f"  roll download {dl:.1f} s, install {inst:.1f} s")
    print(f"  card inserted → ready to check voters in: {total:.1f} s (goal ≤ {GOAL_S:.0f} s): "
          f"{'OK' if total <= GOAL_S else 'OVER'}")
    return [{"name": "enroll_ready_s", "voters": n, "value": total, "goal": GOAL_S, "ok": total <= GOAL_S,
             "to_proven_s": t["to_proven_s"], "roll_download_s": dl, "roll_install_s": inst, "card": card.kind}]


if __name__ == "__main__":
    run()
