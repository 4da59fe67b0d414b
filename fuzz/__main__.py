"""``python -m fuzz TARGET [--examples N] [--seconds S]`` (``--list`` for the targets).

With atheris installed: coverage-guided fuzzing (extra arguments go to libFuzzer). Without it: a
hypothesis loop over arbitrary bytes and mutations of valid seeds; each input has a deadline
(no hang) and the process a memory ceiling (RLIMIT_AS), so a finding is reported, not endured.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import traceback


def _hypothesis_loop(name: str, examples: int, seconds: float) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from fuzz.targets import TARGETS, seeds

    target = TARGETS[name]
    base = seeds(name)

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        b = bytearray(draw(st.sampled_from(base)))
        for _ in range(draw(st.integers(0, 8))):
            op = draw(st.integers(0, 3))
            pos = draw(st.integers(0, len(b)))
            if op == 0 and b:
                b[min(pos, len(b) - 1)] ^= 1 << draw(st.integers(0, 7))
            elif op == 1:
                b[pos:pos] = draw(st.binary(max_size=16))
            elif op == 2:
                del b[pos:pos + draw(st.integers(1, 16))]
            else:
                b = b[:pos]
        return bytes(b)

    start = time.monotonic()
    found: list[BaseException] = []

    @settings(max_examples=examples, deadline=2000, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=4096), mutated()))
    def run(data: bytes) -> None:
        if time.monotonic() - start > seconds:
            return
        target(data)

    try:
        run()
    except BaseException as e:  # noqa: BLE001 - a finding: print it and fail
        traceback.print_exc()
        found.append(e)
    print(f"fuzz {name}: {'FAIL' if found else 'ok'} ({examples} examples max, {time.monotonic() - start:.1f} s)")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    from fuzz.targets import TARGETS

    ap = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    ap.add_argument("target", nargs="?", choices=sorted(TARGETS))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--memory-mb", type=int, default=1024)
    ap.add_argument("--no-atheris", action="store_true")
    args, rest = ap.parse_known_args(argv)
    if args.list or not args.target:
        print("\n".join(sorted(TARGETS)))
        return 0
    limit = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if not args.no_atheris:
        try:
            import atheris  # type: ignore[import-not-found]
        except ImportError:
            atheris = None
        if atheris is not None:
            target = TARGETS[args.target]
            atheris.Setup([sys.argv[0], *rest], target)
            atheris.Fuzz()
            return 0
    return _hypothesis_loop(args.target, args.examples, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
