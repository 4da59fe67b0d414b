"""The console, rendered offscreen, lists the voters whose 生年月日 不詳 needs an ID check (年齢確認,
issue 19) on a live HQ with a real terminal over TLS 1.3: name (IVS in the name font, 外字 as 〓 with
the kana), kana, the birth date as far as known, 投票区, and whether they have checked in. The
terminal refuses the check-in without the confirmation and records it with one; HQ's stored check-in
carries the ``age_confirmed`` mark; the console then shows that voter as 受付済.

Kivy keeps one window per process, so the scenario runs in a child process (``python -m
tests.integration.test_console_rendered_age_checks DIR``) and the test checks what it reports.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ui

ROOT = Path(__file__).resolve().parents[2]
IVS_NAME = "葛\U000E0102城 一郎"


def test_console_lists_age_checks_and_who_checked_in(tmp_path: Path) -> None:
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1",
               KIVY_HOME=str(tmp_path / "kivy"))
    env.pop("KIVY_GL_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "tests.integration.test_console_rendered_age_checks",
                           str(tmp_path / "env")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1])
    assert out["refused_without_id"] == "age_confirm_id"
    assert out["hq_mark"] == "license"  # the confirmation reached HQ with the check-in
    assert out["tab_label"] == "年齢確認（3）"
    assert "年齢確認が必要な選挙人 3 人（受付済 1 人・未受付 2 人）" in out["summary"]
    names = out["names"]  # the name labels, in the order drawn: 未受付 first
    assert names[-1] == IVS_NAME and out["ivs_in_name_font"]
    assert "山〓 花子（ヤマザキ ハナコ）" in names
    details = "\n".join(out["details"])
    assert "カツラギ イチロウ　生年月日 平成21年不詳　第1投票区　選挙人番号 100001" in details
    assert "受付済（E01 " in details and details.count("\u3000未受付") == 2
    assert "生年月日 不詳" in details  # the year too is unknown (0000-00-00)


# --- the child: live HQ + one terminal + console on one loop ------------------------------------

async def _scenario(root: Path) -> dict[str, Any]:
    from appliance.dirs import TerminalDir
    from appliance.store import Store
    from ground.events import EventKind, decode
    from hq.records import RecordsLedger
    from hq.roll import import_roll
    from hq.server import HqNode, serve
    from tests.builders_roll import csv_text
    from tests.integration.sync_env import make_env
    from ui_kivy.console.app import ConsoleSettings, run_app
    from ui_kivy.console.backend import LocalHq
    from ui_kivy.console.presenter import ConsolePresenter, Tab
    from ui_kivy.fonts import NAME_FONT

    env = make_env(root, {"T01": "E01"})
    roll = root / "roll.csv"
    roll.write_text(csv_text([
        ["100001", "1", IVS_NAME, "カツラギ イチロウ", "2009-00-00", "男", "横浜市中区1-1"],
        ["100002", "1", "山\ue000 花子", "ヤマザキ ハナコ", "0000-00-00", "女", "横浜市中区1-2"],
        ["100003", "2", "不詳 四月", "フショウ シガツ", "2009-04-00", "男", "横浜市中区1-3"],
        ["100004", "1", "山田 太郎", "ヤマダ タロウ", "1945-00-00", "男", "横浜市中区1-4"],  # the year proves it
    ]), "utf-8")
    import_roll(env.hq, roll, env.clock)
    store = Store(TerminalDir(env.terminals["T01"].root).store_path)  # the terminal's roll says 不詳 too
    with store.atomic() as c:
        c.execute("UPDATE voters SET birth_date = '2009-00-00', name = ? WHERE voter_id = '100001'", (IVS_NAME,))
    store.close()
    env.node = HqNode(env.hq, ledger_cls=RecordsLedger, node_name="hq-a")
    env.runner = await serve(env.node, "127.0.0.1", env.port)
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    out: dict[str, Any] = {}

    async def until(cond: Any, what: str, timeout: float = 30.0) -> None:
        for _ in range(int(timeout / 0.05)):
            if cond():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    await until(agent.online.is_set, "T01 online")
    first = agent.term.checkin("100001", "係員A")
    out["refused_without_id"] = first.decision.code.value if first.seq is None else "recorded"
    local = agent.term.checkin("100001", "係員A", {"age_confirmed": "license"})
    assert local.seq is not None
    await agent.resolve(local.seq, [c.contest for c in local.handed])

    def hq_mark() -> str | None:
        for _, terminal, body in env.node.store.events_after(0, 1000):
            ev = decode(bytes(body))
            if terminal == "T01" and ev.kind is EventKind.CHECKIN and ev.data.get("voter") == "100001":
                return str(ev.data.get("age_confirmed"))
        return None

    backend = LocalHq(env.node, env.clock)
    p = ConsolePresenter(backend)

    async def driver(app: Any) -> None:
        from kivy.uix.label import Label

        await until(lambda: app.root is not None and len(p.age_checks) == 3
                    and any(a.done for a in p.age_checks), "the age checks with the check-in")
        out["hq_mark"] = await env.node.io(hq_mark)
        p.select_tab(Tab.AGE)
        await asyncio.sleep(0.3)
        out["tab_label"] = dict(p.tab_labels())[Tab.AGE]
        pane = app.root.panes[Tab.AGE]
        out["summary"] = pane.summary.text
        labels = [w for w in pane.walk() if isinstance(w, Label) and w.text]
        named = [w for w in labels if w.font_name == NAME_FONT]
        out["names"] = [w.text for w in named]  # walk() goes in the order the rows were added
        out["ivs_in_name_font"] = any(w.text == IVS_NAME for w in named)
        out["details"] = [w.text for w in labels if w.font_name != NAME_FONT]

    try:
        await run_app(p, backend, ConsoleSettings(refresh_s=0.25), driver=driver)
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        await env.stop_hq()
    return out


def _child(argv: list[str]) -> int:
    root = Path(argv[0] if argv else tempfile.mkdtemp())
    try:
        out = asyncio.run(_scenario(root))
    except BaseException:
        import traceback

        traceback.print_exc(file=sys.__stdout__)
        return 1
    print(json.dumps(out, ensure_ascii=False), file=sys.__stdout__, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
