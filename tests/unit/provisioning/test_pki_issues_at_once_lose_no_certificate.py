"""Two issuances at once lose no certificate (found by the fleet benchmark, issue 20).

HQ's enrollment desk and ``meibo hq enroll-local`` may issue device certificates at the same
moment. With one fixed ``issued.json.tmp`` the second writer found the first one's temp file
renamed away (FileNotFoundError), and without a lock around the read-modify-write one serial
could be dropped from the register — a certificate the CA signed but HQ no longer knows. Real
processes, as at HQ: each issues in its own interpreter, started together by a barrier.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from ground.clock import FixedClock
from provisioning import pki
from tests.builders import election_config, jst

PROCESSES, EACH = 4, 6


def _issue(pki_dir: str, worker: int, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:
    cfg, clock = election_config(), FixedClock(jst(2027, 4, 10, 9))
    barrier.wait()
    serials = []
    for i in range(EACH):
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        _, serial = pki.issue_device_cert(Path(pki_dir), cfg, f"T{worker}{i:02d}", "E01", key, clock, tls_clock=clock)
        serials.append(serial)
    out.put(serials)


def test_concurrent_issuances_each_land_in_the_register(tmp_path: Path) -> None:
    clock = FixedClock(jst(2027, 4, 10, 9))
    pki.create_election_pki(tmp_path, election_config(), clock, tls_clock=clock)
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_issue, args=(str(tmp_path), w, barrier, out)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    issued = [s for _ in procs for s in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, "an issuance failed (see its traceback above)"
    register = json.loads(pki.PkiPaths(tmp_path).issued.read_text("utf-8"))
    assert sorted(int(s) for s in register) == sorted(issued) and len(issued) == PROCESSES * EACH
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "a temp file was left behind"
