"""A seed (and the code) replays a run exactly: same report, same trace hash, in another
process with another hash seed too (no set iteration order, no real clock leaks in)."""

import json
import os
import subprocess
import sys

from tooling.sim.run import run_seed

SEEDS = (3, 17, 101)


def test_same_seed_gives_same_report_and_trace_hash():
    for seed in SEEDS:
        a, b = run_seed(seed), run_seed(seed)
        assert a.trace_hash == b.trace_hash
        assert a.as_dict() == b.as_dict()


def test_different_seeds_give_different_runs():
    assert len({run_seed(s).trace_hash for s in SEEDS}) == len(SEEDS)


def test_trace_hash_is_stable_across_processes_and_hash_seeds():
    code = ("import json,sys; from tooling.sim.run import run_seed; "
            f"print(json.dumps([run_seed(s).trace_hash for s in {SEEDS!r}]))")
    out = []
    for hs in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hs)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        out.append(json.loads(p.stdout))
    assert out[0] == out[1] == [run_seed(s).trace_hash for s in SEEDS]


def test_replay_keeps_the_trace_and_it_hashes_the_same():
    r = run_seed(5, keep_trace=True)
    assert r.trace and any(" append " in ln for ln in r.trace)
    assert r.trace_hash == run_seed(5).trace_hash
