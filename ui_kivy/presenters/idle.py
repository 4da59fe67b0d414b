"""待受 (idle): what the screen shows while waiting for the next 入場整理券."""

from __future__ import annotations

from dataclasses import dataclass

PROMPT = "入場整理券をスキャンしてください"


@dataclass(frozen=True)
class IdleState:
    station_name: str
    clerk: str
    station_open: bool
    prompt: str = PROMPT
    closed_text: str = ""  # shown instead of the prompt when the station is not open


def idle_state(station_name: str, clerk: str, state: str) -> IdleState:
    if state == "open":
        return IdleState(station_name, clerk, True)
    text = ("投票所は閉鎖されています（受付終了）" if state == "closed"
            else "投票所が開設されていません。管理者メニューから開設してください")
    return IdleState(station_name, clerk, False, closed_text=text)
