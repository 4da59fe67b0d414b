"""The windows after the demo's day (``meibo demo --console / --kiosk``): which to open, and
opening each as its own process when a display is there, or saying how to open it when not.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling.demo_day import ELECTION_DAY, StationPlan, plan_stations
from tooling.demo_report import DemoReport
from tooling.meibo_process import meibo_argv


def display_available(env: dict[str, str]) -> bool:
    """A window can open: SDL has a driver named (offscreen included) or X has a display."""
    return bool(env.get("SDL_VIDEODRIVER") or env.get("DISPLAY"))


def kiosk_station(stations: int, revoked: str) -> StationPlan:
    """The terminal whose kiosk ``--kiosk`` opens: the first election-day station still enrolled."""
    plan = plan_stations(stations)
    return next(s for s in plan if s.kind != "early" and s.terminal != revoked)


def gui_commands(root: Path, report: DemoReport, stations: int, *, console: bool,
                 kiosk: bool) -> list[tuple[str, list[str]]]:
    """(label, meibo arguments) for each window asked for. The console serves HQ itself when
    ``meibo hq serve`` is not running (the demo stopped it); the kiosk syncs with that HQ and
    its clock stands at 19:00 on election day, so it still takes check-ins."""
    out: list[tuple[str, list[str]]] = []
    if console:
        out.append(("本部の監視画面", ["console", str(root / "hq"), "--dev-loopback"]))
    if kiosk:
        s = kiosk_station(stations, report.revoked)
        out.append((f"受付端末 {s.terminal}（{s.name}）の画面",
                    ["kiosk", str(root / s.terminal), "--hq", report.hq_address,
                     "--now", f"{ELECTION_DAY}T19:00:00+09:00"]))
    return out


@dataclass(frozen=True)
class GuiSettings:
    settle_s: float = 4.0  # a window that dies at once (no Kivy, no display) does so within this


def open_windows(root: Path, windows: list[tuple[str, list[str]]], env: dict[str, str], say: Any,
                 settings: GuiSettings = GuiSettings()) -> list[dict[str, Any]]:
    """Start each window as its own process (it outlives the demo command) when a display is
    available; otherwise say how to open it. Returns what happened, for the JSON report."""
    out: list[dict[str, Any]] = []
    shown = display_available(env)
    for label, args in windows:
        cmd = "meibo " + " ".join(args)
        if not shown:
            say(f"{label}: 画面（DISPLAY または SDL_VIDEODRIVER）がないため開きません。開くには: {cmd}")
            out.append({"window": args[0], "started": False, "command": cmd})
            continue
        log = root / f"{args[0]}.log"
        with open(log, "wb") as f:
            p = subprocess.Popen(meibo_argv() + args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)
        try:
            p.wait(settings.settle_s)
        except subprocess.TimeoutExpired:
            say(f"{label}を開きました（pid {p.pid}、ウィンドウを閉じると終了）: {cmd}")
            out.append({"window": args[0], "started": True, "pid": p.pid, "command": cmd, "log": str(log)})
            continue
        tail = log.read_text("utf-8", "replace").strip().splitlines()[-3:]
        say(f"{label}を開けませんでした（終了コード {p.returncode}、{log}）: {' / '.join(tail)}。開くには: {cmd}")
        out.append({"window": args[0], "started": False, "exit": p.returncode, "command": cmd, "log": str(log)})
    return out
