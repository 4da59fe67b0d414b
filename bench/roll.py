"""Roll benchmarks: signed full-roll install vs a bare SQLite executemany, and lookup p99.

``run()`` generates (and caches under /tmp/meibo-bench) a synthetic roll of ``MEIBO_BENCH_VOTERS``
voters (default 3,200,000: Yokohama's size), imports and publishes it at HQ, then in the same run:
- installs the signed full package into a fresh terminal store (verify + store + indexes) and a
  bare ``executemany`` of the same rows into a fresh file with the same columns (same pragmas,
  one transaction): ratio goal <= 2.0. Twice: a plain store, and a SQLCipher store as an enrolled
  terminal has (``MEIBO_BENCH_ENCRYPTED=0`` skips it), whose floor is the same bare load into a
  SQLCipher file with the same key, so the ratio compares like with like. The install's own steps
  (verify, decompress + check, the rest = insert + index + commit) are printed beside it;
- 2,000 random barcode lookups (goal p99 <= 1 ms) and 2,000 kana-prefix lookups of 2-4 kana
  (goal p99 <= 20 ms) on the installed roll.
Figures are printed and returned as a list of dicts.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from hq.roll import import_roll, publish
from appliance.lookup import by_barcode, by_kana
from ground.model import BarcodeFormat
from appliance.rollpkg import row_tuple, iter_lines, iter_text, open_package
from appliance.rollinstall import _chunk_fields, install_package
from appliance.store import Store, connect
from appliance.synth import SynthSettings, write_roll_file
from tests.builders_roll import NOW, make_pair
from ground.barcode import make_barcode

CACHE = Path(os.environ.get("MEIBO_BENCH_CACHE", "/tmp/meibo-bench"))
KEY = bytes(range(32))  # a fixed data key: the bench's SQLCipher files hold synthetic voters only


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _prepare(n: int, seed: int) -> tuple[Path, bytes, bytes]:
    """(terminal root, package bytes, HQ public key); cached per (n, seed)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    csv_path = CACHE / f"roll-{n}-s{seed}.csv"
    if not csv_path.exists():
        t0 = time.perf_counter()
        write_roll_file(SynthSettings(voters=n, seed=seed), csv_path)
        print(f"  synth-roll {n:,} voters: {time.perf_counter() - t0:.1f} s")
    work = CACHE / f"work-{n}-s{seed}"
    pkg = work / "full.mbr"
    if not pkg.exists():
        shutil.rmtree(work, ignore_errors=True)
        pair = make_pair(work)
        t0 = time.perf_counter()
        import_roll(pair.hq, csv_path, NOW)
        t1 = time.perf_counter()
        publish(pair.hq, pkg, NOW, full=True)
        t2 = time.perf_counter()
        print(f"  roll import {t1 - t0:.1f} s, publish {t2 - t1:.1f} s, package {pkg.stat().st_size / 1e6:.1f} MB")
    return work, pkg.read_bytes(), (work / "hq" / "keys" / "roll_signing.pub").read_bytes()


def _bare(path: Path, rows: list[tuple[Any, ...]], key: bytes | None = None) -> tuple[float, float]:
    """The floor: same columns, same durable pragmas, same encryption, the same page cache and
    in-memory sorter as the install's transaction, one transaction, no checks, no index."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = connect(path, migrations=[], key=key)
    conn.execute("CREATE TABLE voters (voter_id TEXT PRIMARY KEY, district INTEGER NOT NULL, name TEXT NOT NULL, "
                 "kana TEXT NOT NULL, kana_key TEXT NOT NULL, birth_date TEXT NOT NULL, sex TEXT NOT NULL, "
                 "address TEXT NOT NULL, status TEXT NOT NULL, display_reason TEXT, moved_on TEXT, "
                 "moved_within_pref INTEGER) WITHOUT ROWID")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("PRAGMA temp_store=MEMORY")
    t0, c0 = time.perf_counter(), time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO voters VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    return dt, dc


def run() -> list[dict[str, Any]]:
    n = int(os.environ.get("MEIBO_BENCH_VOTERS", "3200000"))
    seed = 1
    print(f"roll benchmarks ({n:,} voters)")
    work, data, pub = _prepare(n, seed)
    results: list[dict[str, Any]] = []

    # the same rows the install writes, decoded outside the timed region for the bare floor
    t0 = time.perf_counter()
    manifest, body = open_package(data, pub)
    verify_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    seen: tuple[set[str], set[str]] = (set(), set())
    prev = ""
    for text in iter_text(manifest, body):  # the install's decompress + checks, without the store
        checked = _chunk_fields(text, prev, seen)
        assert checked is not None
        prev = checked[1]
        for _ in checked[2]:  # the split the install makes while inserting
            pass
    check_s = time.perf_counter() - t0
    rows = [row_tuple(line[2:]) for lines in iter_lines(manifest, body) for line in lines]

    store = None
    modes = [("plain", None)] + ([] if os.environ.get("MEIBO_BENCH_ENCRYPTED") == "0" else [("sqlcipher", KEY)])
    for mode, key in modes:
        bare_s, bare_cpu = _bare(work / "bare.db", rows, key)
        tdir = work / f"t-{mode}"
        tdir.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(tdir / "store.db") + suffix).unlink(missing_ok=True)
        if store is not None:
            store.close()
        store = Store(tdir / "store.db", key=key)
        t0, c0 = time.perf_counter(), time.process_time()
        install_package(store, data, pub, manifest.election_id)
        install_s, install_cpu = time.perf_counter() - t0, time.process_time() - c0
        # run the floor again after the install, and take the faster: a floor measured while other
        # processes happened to load the machine would flatter the ratio
        again = _bare(work / "bare.db", rows, key)
        bare_s, bare_cpu = min(bare_s, again[0]), min(bare_cpu, again[1])
        ratio = install_s / bare_s
        # CPU time of this process too: on a shared machine the wall clock includes waiting for a core
        cpu_ratio = install_cpu / bare_cpu
        rest_s = install_s - verify_s - check_s
        print(f"  install signed full roll ({mode}): {install_s:.2f} s   bare executemany: {bare_s:.2f} s   "
              f"ratio {ratio:.2f}x (goal <= 2.0x)   [verify {verify_s:.2f} s, decompress + check {check_s:.2f} s, "
              f"insert + index + commit {rest_s:.2f} s; cpu {install_cpu:.2f} s vs {bare_cpu:.2f} s = "
              f"{cpu_ratio:.2f}x; load {os.getloadavg()[0]:.1f}]")
        results.append({"name": "roll_install_vs_bare" + ("" if key is None else "_sqlcipher"), "voters": n,
                        "install_s": round(install_s, 3), "bare_s": round(bare_s, 3), "ratio": round(ratio, 3),
                        "verify_s": round(verify_s, 3), "check_s": round(check_s, 3),
                        "install_cpu_s": round(install_cpu, 3), "bare_cpu_s": round(bare_cpu, 3),
                        "cpu_ratio": round(cpu_ratio, 3), "goal": 2.0,
                        "ok": ratio <= 2.0})
    del rows
    assert store is not None

    rng = random.Random(42)
    conn = store.conn
    fmt = BarcodeFormat()
    ids = [f"{rng.randrange(1, n + 1):010d}" for _ in range(2000)]
    codes = [make_barcode(i, fmt) for i in ids]
    times, cpu = [], []
    for c in codes:
        t, tc = time.perf_counter(), time.thread_time()
        res = by_barcode(conn, c, fmt)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - tc) * 1000)
        assert len(res.found) == 1
    p99 = _p(times, 0.99)
    load = os.getloadavg()[0]
    # On a shared 2-core machine a wall-clock p99 includes being preempted (a ~4 ms time slice);
    # the CPU-time p99 shows what the lookup itself costs.
    print(f"  barcode lookup: p50 {statistics.median(times):.3f} ms  p99 {p99:.3f} ms (goal <= 1 ms)  "
          f"cpu p99 {_p(cpu, 0.99):.3f} ms  load {load:.1f}")
    results.append({"name": "lookup_barcode_p99_ms", "p50_ms": round(statistics.median(times), 4),
                    "p99_ms": round(p99, 4), "cpu_p99_ms": round(_p(cpu, 0.99), 4), "load": load,
                    "goal": 1.0, "ok": p99 <= 1.0})

    keys = [r[0] for r in conn.execute("SELECT kana_key FROM voters WHERE voter_id IN (%s)" %
                                       ",".join("?" * 500), [f"{rng.randrange(1, n + 1):010d}" for _ in range(500)])]
    prefixes = []
    for _ in range(2000):
        k = rng.choice(keys)
        prefixes.append(k[:rng.randint(2, min(4, len(k)))])
    times, cpu = [], []
    for q in prefixes:
        t, tc = time.perf_counter(), time.thread_time()
        res = by_kana(conn, q)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - tc) * 1000)
        assert res.found
    p99 = _p(times, 0.99)
    print(f"  kana prefix lookup (2-4 kana): p50 {statistics.median(times):.3f} ms  p99 {p99:.3f} ms "
          f"(goal <= 20 ms)  cpu p99 {_p(cpu, 0.99):.3f} ms")
    results.append({"name": "lookup_kana_p99_ms", "p50_ms": round(statistics.median(times), 4),
                    "p99_ms": round(p99, 4), "cpu_p99_ms": round(_p(cpu, 0.99), 4), "goal": 20.0, "ok": p99 <= 20.0})
    store.close()
    return results


if __name__ == "__main__":
    for r in run():
        print(r)
