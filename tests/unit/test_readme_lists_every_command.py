"""The README's command reference names every ``meibo`` command (a new command is documented)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands(parser: argparse.ArgumentParser, prefix: list[str]) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    out += _commands(sub, prefix + [name])
                else:
                    out.append(" ".join(prefix + [name]))
    return out


def test_every_meibo_command_is_in_the_readme():
    text = README.read_text("utf-8")
    commands = _commands(build_parser(), ["meibo"])
    assert len(commands) > 20
    missing = [c for c in commands if f"`{c} " not in text and f"`{c}`" not in text]
    assert missing == [], f"commands missing from README.md: {missing}"


def test_readme_gives_the_two_setup_commands():
    text = README.read_text("utf-8")
    assert "make demo" in text and "make test" in text
