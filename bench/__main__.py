"""Run the benchmarks: ``python -m bench`` (all) or ``python -m bench sync checkin``."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

ALL = ["checkin", "sync", "restart", "steps", "roll", "enroll", "console", "pg", "fleet"]


def main(names: list[str]) -> int:
    results = {}
    for name in names or ALL:
        try:
            mod = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"bench.{name}":
                print(f"[{name}] not available")
                continue
            raise
        print(f"== bench {name} ==", flush=True)
        t0 = time.time()
        results[name] = mod.run()
        print(f"   ({time.time() - t0:.0f} s)", flush=True)
    out = Path("bench-results.json")
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), "utf-8")
    print(f"results → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
