"""``meibo sim``: figures for many seeds, one seed replayed with its fault mix and trace, and a
failing seed printed with its replay command and a non-zero exit status."""

import json

from cli.sim import main


def test_many_seeds_json_has_the_figures(capsys):
    assert main(["--seeds", "3", "--start", "10", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["code"] == "ok" and d["seeds"] == 3 and d["violations"] == 0
    assert d["virtual_hours"] > 0 and d["faults"] and d["longest_convergence_ms"] is not None


def test_one_seed_prints_its_fault_mix_and_trace(capsys):
    assert main(["--seed", "4", "--trace-lines", "5"]) == 0
    out = capsys.readouterr().out
    assert "故障の組み合わせ" in out and "partitions" in out and "トレースハッシュ" in out
    assert "boot seq=0" in out and "ほか" in out


def test_failing_seed_prints_replay_command_and_exits_non_zero(capsys):
    assert main(["--seeds", "2", "--start", "1", "--bug", "lww-merge"]) == 1
    out = capsys.readouterr().out
    assert "再現: meibo sim --seed 1 --bug lww-merge" in out
