"""報告 (station report, supervisor menu): the day's figures so far. Pure, no kivy import.

Per contest 名簿対照数 against the latest 交付数 and their difference (a word and a sign, never
colour alone), check-ins by hour, 仮投票 / 代理 / 点字 / 宣誓書事由 / 在外選挙人 counts, and the
link: entries HQ has not acknowledged and the last sync. Reading it changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from ground.model import ElectionConfig
from ui_kivy.presenters.format import hm
from ui_kivy.presenters.procedures import Panel, figures_flagged, figures_lines
from ui_kivy.service import StationReport


def report_panel(r: StationReport, config: ElectionConfig, now: datetime) -> Panel:
    f = r.figures
    flagged = figures_flagged(f)
    title = (f"！ 投票所の報告（{now:%H:%M} 現在）— 名簿対照数と交付数に差があります" if flagged
             else f"✓ 投票所の報告（{now:%H:%M} 現在）")
    lines = [f"{config.station(f.station).name}  {f.day:%Y年%m月%d日}"]
    lines += figures_lines(f)
    hours = "  ".join(f"{h}時 {n}" for h, n in r.by_hour) if r.by_hour else "まだありません"
    lines.append(f"時間別の受付（人）: {hours}")
    link = r.link
    sync = "最終同期 " + (hm(link.last_sync) if link.last_sync else "なし")
    pending = f"本部未確認 {link.pending} 件" + ("（本部: 未接続）" if not link.online else "")
    lines.append(f"{pending}  {sync}")
    return Panel("amber" if flagged or link.pending else "green", title, tuple(lines))


__all__ = ["report_panel"]
