"""Two real processes checking in on one terminal directory at once: the chain verifies, seqs
are 1..N without gaps or duplicates, and a voter raced by both gets each ballot once."""

import subprocess
import sys
from pathlib import Path

from ground.clock import FixedClock
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter

ROOT = Path(__file__).resolve().parents[3]
N = 40
CHILD = """
import sys
from ground.clock import FixedClock
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON
tdir, who, n = TerminalDir(__import__('pathlib').Path(sys.argv[1])), sys.argv[2], int(sys.argv[3])
t = Terminal(tdir, FixedClock(EARLY_NOON))
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    t.checkin(f"{who}{i:03d}", who)
    t.checkin("shared", who)  # both race for one voter
t.close()
"""


def test_two_processes_never_fork_journal(tmp_path: Path) -> None:
    voters = [voter(f"{w}{i:03d}") for w in "AB" for i in range(N)] + [voter("shared")]
    tdir = terminal_dir(tmp_path / "t", voters)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tdir.root), w, str(N)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for w in "AB"]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # release both at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.wait(timeout=120) == 0
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:
        rep = t.verify()
        assert rep.ok, rep.problem
        seqs = [r[0] for r in t.store.conn.execute("SELECT seq FROM journal ORDER BY seq")]
        assert seqs == list(range(1, 2 * N + 2))  # 2N own voters + exactly one for "shared"
        assert t.store.conn.execute("SELECT count(*) FROM voted WHERE voter_id='shared'").fetchone()[0] == 4
        clerks = {r[0] for r in t.store.conn.execute("SELECT body FROM journal")}
        assert len(clerks) == 2 * N + 1
