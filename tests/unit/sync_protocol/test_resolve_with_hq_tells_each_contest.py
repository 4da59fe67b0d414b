"""The terminal's check-in, resolved with HQ (sync_protocol/resolve.py): a contest HQ accepted is
handed, one HQ says was voted elsewhere is not (the reason names the station, terminal and
time), one without a verdict within the budget is handed as オフライン受付."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ground.hlc import pack
from sync_protocol import resolve as resolve_mod
from sync_protocol.client import Resolution
from sync_protocol.resolve import resolve_with_hq, station_name
from sync_protocol.session import TerminalVerdict
from tests.builders import EARLY_NOON
from tests.integration.sync_env import make_env

VOTER = "100001"


def test_each_handed_contest_gets_hqs_word(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    with env.terminal("T01") as term:
        local = term.checkin(VOTER, "c1")
        handed = [d.contest for d in local.handed]
        assert len(handed) >= 3 and local.seq is not None
        ok, voted = handed[0], handed[1]
        hlc = pack(int(EARLY_NOON.timestamp() * 1000), 0)

        async def fake_resolve(tdir: Any, t: Any, seq: int, contests: list[str]) -> Resolution:
            assert seq == local.seq and contests == handed
            return Resolution(seq, [voted], True, [TerminalVerdict(seq, ok, True),
                                                   TerminalVerdict(seq, voted, False, "E02", "T02", hlc, 4)])

        monkeypatch.setattr(resolve_mod, "resolve", fake_resolve)
        out = {o.decision.contest: o for o in resolve_with_hq(term, local)}
        assert out[ok].status == "ok" and out[ok].hand
        assert out[voted].status == "already_voted" and not out[voted].hand
        assert out[voted].reason == ("投票済: 関内駅前 期日前投票所（端末 T02、04月20日 12:00）で交付済み。"
                                     "交付しないでください")
        assert all(out[c].status == "offline_provisional" and out[c].hand for c in handed[2:])
        assert station_name(term, "HQ") == "選挙管理委員会（不在者投票）" and station_name(term, "X9") == "X9"
