"""One short session of the sync agent with HQ, for callers that are not the long-running agent:
the rehearsal's sync round (the test journal sent to HQ's test ledger) and the zero proof's
question "which roll and contests has HQ published?" (HQ's WELCOME says it).

Owns nothing but the waiting: the agent (client.py) does the protocol. May import what client.py
imports; never HQ, the screens or the CLI (both the CLI and the kiosk call it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from appliance import rehearsal
from appliance.dirs import TerminalDir
from appliance.terminal import Terminal
from ground.errors import MeiboError
from sync_protocol.client import SyncAgent, SyncSettings

ROUND_SETTINGS = SyncSettings(verdict_budget_s=1.5, backoff_initial_s=0.05, backoff_max_s=0.5)


async def agent_round(tdir: TerminalDir, term: Terminal, timeout_s: float,
                      settings: SyncSettings = ROUND_SETTINGS, hq_address: str | None = None,
                      hq_addresses: Sequence[str] | None = None) -> SyncAgent:
    """Run the agent until HQ refused it, or it is online with nothing pending and HQ's versions
    heard, or ``timeout_s`` passed; then stop it. The agent is returned for what it learnt."""
    agent = SyncAgent(tdir, term, settings, hq_address=hq_address, hq_addresses=hq_addresses)
    task = asyncio.create_task(agent.run())
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while agent.refused is None and not (agent.online.is_set() and agent.pending() == 0
                                                     and agent.hq_roll_version is not None):
                    await asyncio.sleep(0.05)
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
    return agent


async def published_versions(tdir: TerminalDir, clock: Any, timeout_s: float,
                             hq_address: str | None = None, hq_addresses: Sequence[str] | None = None
                             ) -> tuple[dict[str, Any] | None, str]:
    """({"roll": n, "contests": [...]}, "") as HQ's WELCOME to the real terminal says, or (None, why not)."""
    try:
        term = Terminal.open(tdir, clock)
    except MeiboError as e:
        return None, f"端末の記録を開けません（{e.message}）"
    try:
        agent = await agent_round(tdir, term, timeout_s, hq_address=hq_address, hq_addresses=hq_addresses)
    finally:
        term.close()
    if agent.refused is not None:
        return None, f"本部が接続を拒否しました（{agent.refused}）"
    if agent.hq_roll_version is None:
        return None, f"本部に接続できません（{timeout_s:.0f} 秒以内に応答なし）"
    return {"roll": agent.hq_roll_version, "contests": agent.hq_contests}, ""



def rehearsal_sync_round(tdir: TerminalDir, timeout_s: float,
                         hq_addresses: Sequence[str] | None = None) -> rehearsal.SyncRound:
    """The rehearsal's sync step: one agent round of the test terminal against HQ's test ledger,
    told as (passed, what was seen). The CLI (``terminal rehearsal run --hq``) and the kiosk's
    試験手順を実行 both run it."""
    def run(term: Terminal) -> tuple[bool, str]:
        agent = asyncio.run(agent_round(tdir, term, timeout_s, hq_addresses=hq_addresses))
        head = term.head().seq
        if agent.refused is not None:
            not_started = agent.refused in ("other_election", "rehearsal_not_started")
            why = "本部でリハーサルが開始されていません" if not_started else "本部が拒否"
            return False, f"{why}（{agent.refused}）"
        if agent.link.acked_seq >= head:
            return True, f"試験記録 {head} 件を本部の試験台帳が受け取りました"
        return False, f"本部に届きません（{timeout_s:.0f} 秒以内に確認なし、送信待ち {head - agent.link.acked_seq} 件）"
    return run

__all__ = ["ROUND_SETTINGS", "agent_round", "published_versions", "rehearsal_sync_round"]
