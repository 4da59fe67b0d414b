"""Fuzzing entry points, one per parser that reads bytes from outside (``python -m fuzz TARGET``).

Each target is ``fn(data: bytes) -> None`` over arbitrary bytes. The contract, the same as for
the hypothesis tests in tests/property/test_hostile_*.py: the parser returns or raises a
``MeiboError`` (a clear, coded error); anything else — another exception, a hang past the
per-input deadline, memory past the bound — is a finding. Targets never write to disk except
a private temporary file for the journal-file reader (which takes a path).

Run with atheris when it is installed (coverage-guided), else a hypothesis-driven loop seeded
with valid inputs of each format and their mutations.
"""

from fuzz.targets import TARGETS

__all__ = ["TARGETS"]
