"""Screenshots of the console screens from the demo election day:
``python -m ui_kivy.console.screenshots docs/screenshots`` writes console-*.png (headless).

The demo source answers actions in memory (nothing is written anywhere).
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from hq.records import console_data
from hq.roll import AgeCheck
from ui_kivy.console.age import age_rows
from ui_kivy.console.app import ConsoleSettings, kivy_env, run_app
from ui_kivy.console.demo import DEMO_NOW, demo_config, demo_ledger
from ui_kivy.console.presenter import ConsolePresenter, Tab


class DemoSource:
    """The demo day as a console source and backend (actions only change memory)."""

    link = "デモ"

    def __init__(self) -> None:
        self.ledger, self.facts = demo_ledger()
        self.config = demo_config()
        self.now = DEMO_NOW
        self.actions: list[tuple[str, Any]] = []
        # 年齢確認 (issue 19): three voters whose 生年月日 不詳 needs an ID check; 100555 came at 09:03
        self.age_checks = age_rows([
            AgeCheck("100555", 1, "葛\U000E0102城 一郎", "カツラギ イチロウ", "2009-00-00", "平成21年不詳", "age_confirm_id", ""),
            AgeCheck("100601", 2, "\ue000城 花子", "カツラギ ハナコ", "0000-00-00", "不詳", "age_confirm_id", ""),
            AgeCheck("100602", 1, "佐々木 三郎", "ササキ サブロウ", "2009-04-00", "平成21年4月不詳", "age_confirm_id", ""),
        ], self.ledger, self.config)

    async def snapshot(self) -> Any:
        hist = {k: list(v) for k, v in self.facts.alert_history.items()}
        for name, (aid, state, who, note) in self.actions:
            if name == "alert":
                hist.setdefault(aid, []).append({"state": state, "who": who, "at": self.now.isoformat(), "note": note})
        return console_data(self.ledger, self.config, replace(self.facts, alert_history=hist), self.now)

    async def set_alert(self, alert_id: int, state: str, who: str, note: str) -> dict[str, Any]:
        self.actions.append(("alert", (alert_id, state, who, note)))
        return {"code": "ok"}

    async def revoke(self, terminal: str, reason: str) -> dict[str, Any]:
        self.actions.append(("revoke", (terminal, reason, "", "")))
        return {"code": "ok"}

    async def absentee(self, voter: str, contests: list[str] | None) -> dict[str, Any]:
        self.actions.append(("absentee", (voter, contests, "", "")))
        return {"code": "ok", "recorded": contests or ["shu", "governor"], "already_voted": []}

    async def publish_roll(self, full: bool) -> dict[str, Any]:
        self.actions.append(("publish", (full, "", "", "")))
        return {"code": "ok", "version": 3, "rows": 12}


async def _shoot(out: Path) -> list[Path]:
    src = DemoSource()
    p = ConsolePresenter(src)
    written: list[Path] = []

    async def frames(n: int = 6) -> None:
        for _ in range(n):
            await asyncio.sleep(1 / 30)

    async def driver(app: Any) -> None:
        from kivy.core.window import Window  # lazy: opens the window, after kivy_env in main()

        for _ in range(100):
            if p.data is not None and app.root is not None:
                break
            await asyncio.sleep(0.05)
        app.root.panes[Tab.ALERTS].ids.operator.text = "選管 田中"
        for tab in (Tab.ALERTS, Tab.STATIONS, Tab.TURNOUT, Tab.AGE, Tab.ACTIONS):
            p.select_tab(tab)
            await frames()
            path = out / f"console-{tab.value}.png"
            Window.screenshot(str(path))
            written.append(_rename_last(path))
        acts = app.root.panes[Tab.ACTIONS]
        acts.ids.revoke_terminal.text = "T-C01-2"
        acts.ids.revoke_reason.text = "紛失（投票所から持ち出し不明）"
        acts.on_revoke()
        await frames()
        path = out / "console-confirm-revoke.png"
        Window.screenshot(str(path))
        written.append(_rename_last(path))
        app.root.confirm_view.on_cancel()
        await frames(2)

    out.mkdir(parents=True, exist_ok=True)
    await run_app(p, src, ConsoleSettings(refresh_s=0.2), driver=driver)
    return written


def _rename_last(path: Path) -> Path:
    """Window.screenshot appends a counter (console-alerts0001.png): give it the stable name."""
    stem = path.stem
    made = sorted(path.parent.glob(f"{stem}[0-9][0-9][0-9][0-9].png"), key=lambda q: q.stat().st_mtime)
    if made:
        made[-1].replace(path)
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshots")
    kivy_env(headless=True)
    try:
        shots = asyncio.run(_shoot(out))
    except Exception:  # Kivy routes stderr to its logger: print where people look
        traceback.print_exc(file=sys.__stderr__)
        return 1
    for p in shots:
        print(p, file=sys.__stdout__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
