"""Presenter-level pieces of the election-day procedures (issue 10) for the kiosk: the 仮投票 form
offered on a 投票済 hard stop, the 宣誓書事由 choices, the opening-check and closing panels, and
the 不在者投票 warning banner. Plain Python, no kivy import; the rules live in
appliance/procedures and are reached only through the kiosk's service (``ProceduresPort`` is the
one verb of ``ui_kivy.service.KioskService`` the form needs; pure data types such as
``TentativeRecord`` come from appliance.procedures).

The 仮投票 form never hands a ballot: its only write is a ``tentative`` journal entry. Colour is
never the only signal: every panel has an icon word in its title.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from appliance import procedures as P
from appliance.eligibility import AGE_ID_KINDS
from ground.errors import MeiboError
from ground.model import ElectionConfig
from appliance.wareki import to_wareki
from ui_kivy.presenters.result import Action


@dataclass(frozen=True)
class Panel:
    colour: str  # green | amber | red
    title: str  # starts with ✓ / ！ / ×
    lines: tuple[str, ...]


def oath_choices() -> tuple[tuple[str, str], ...]:
    """(code, label) of the 宣誓書事由 buttons, in the order of the law's 号."""
    return tuple((r.value, f"{i}号 {r.ja}") for i, r in enumerate(P.OathReason, 1))


def age_id_choices() -> tuple[tuple[str, str], ...]:
    """(code, label) of the 年齢確認 buttons: the IDs a poll worker may check the age on."""
    return tuple(AGE_ID_KINDS.items())


def opening_panel(check: P.OpeningCheck) -> Panel:
    colour = {"ok": "green", "unchecked": "amber", "mismatch": "red"}[check.status]
    lines = check.text().splitlines()
    return Panel(colour, lines[0], tuple(lines[1:]))


def balance(c: P.ContestFigures) -> int | None:
    """受領数 − 交付数 − 残数 (0 when every ballot received is accounted for); None until all are entered."""
    if c.received is None or c.issued is None or c.left is None:
        return None
    return c.received - c.issued - c.left


def contest_lines(c: P.ContestFigures) -> tuple[str, ...]:
    """One contest's figures, each difference flagged with a word and a sign (never colour alone)."""
    issued = "未入力" if c.issued is None else str(c.issued)
    d = c.difference
    diff = ("" if d is None else "  ○ 一致" if d == 0
            else f"  ！ 不一致 差 {d:+d}（{'交付数が多い' if d > 0 else '交付数が少ない'}）")
    out = [f"{c.name}: 名簿対照数 {c.matched} / 交付数 {issued}{diff}"]
    b = balance(c)
    if b is not None:
        word = "○ 一致" if b == 0 else f"！ 不一致 差 {b:+d}（{'用紙が足りない' if b > 0 else '用紙が多い'}）"
        out.append(f"└ 受領数 {c.received} − 交付数 {c.issued} − 残数 {c.left} = {b}  {word}")
    elif c.left is not None:
        out.append(f"└ 残数 {c.left}（受領数 未入力）")
    return tuple(out)


def figures_lines(figs: P.ClosingFigures) -> tuple[str, ...]:
    lines = [f"投票者数（受付） {figs.voters} 人"]
    for c in figs.contests:
        lines += contest_lines(c)
    lines.append(f"仮投票 {figs.tentative} 件  代理投票 {figs.proxy} 件  点字投票 {figs.braille} 件"
                 f"  在外選挙人 {figs.zaigai} 人")
    if figs.oath_reasons:
        lines.append("宣誓書の事由: " + "、".join(f"{P.OathReason(k).ja} {n}" for k, n in figs.oath_reasons.items()))
    return tuple(lines)


def figures_flagged(figs: P.ClosingFigures) -> bool:
    return bool(figs.flagged) or any(balance(c) not in (None, 0) for c in figs.contests)


def closing_panel(figs: P.ClosingFigures, config: ElectionConfig) -> Panel:
    flagged = figures_flagged(figs)
    title = ("！ 閉鎖しました — 数が合わない選挙があります（不一致を確認）" if flagged
             else "✓ 閉鎖しました — 以後の受付はできません")
    head = f"投票所 {config.station(figs.station).name}  {figs.day:%Y年%m月%d日} の集計"
    return Panel("amber" if flagged else "green", title, (head,) + figures_lines(figs))


def absentee_banner(warning: P.AbsenteeWarning | None) -> Panel | None:
    if warning is None:
        return None
    lines = warning.text.splitlines()
    return Panel("amber", lines[0], tuple(x.strip() for x in lines[1:]))


TENTATIVE_TITLE = "仮投票（公職選挙法50条）— 通常の投票用紙は交付しない"
TENTATIVE_INSTRUCTION = "仮投票用の封筒で投票してもらう — 通常の投票用紙は交付しない"
DECIDERS = ("投票管理者", "投票立会人")  # who decided (the kiosk has no keyboard: two large buttons)


class ProceduresPort(Protocol):
    def record_tentative(self, *, contests: Sequence[str], reason: str, decided_by: str, clerk: str,
                         voter_id: str | None = None, declared: P.Declared | None = None) -> P.TentativeRecord: ...


@dataclass(frozen=True)
class TentativeForm:
    """State of the 仮投票 screen (supervisor). ``contests`` preselects the ballots refused as 投票済."""

    voter_id: str | None
    voter_name: str
    contests: tuple[tuple[str, str], ...]  # every (id, name) of the election
    selected: frozenset[str]
    reason: str | None = None
    decided_by: str = ""
    message: str = ""
    done: P.TentativeRecord | None = None
    declared: P.Declared | None = None  # a person not on the roll: name (kana) and birth date as declared
    reasons: tuple[tuple[str, str], ...] = field(default_factory=lambda: tuple((r.value, r.ja) for r in P.TentativeReason))

    @property
    def can_submit(self) -> bool:
        return bool(self.selected) and self.reason is not None and bool(self.decided_by.strip()) and self.done is None


def tentative_form(config: ElectionConfig, voter_id: str | None, voter_name: str,
                   refused_names: Sequence[str] = ()) -> TentativeForm:
    contests = tuple((c.contest_id, c.name) for c in config.contests)
    pre = frozenset(cid for cid, name in contests if name in refused_names)
    return TentativeForm(voter_id, voter_name, contests, pre,
                         reason=P.TentativeReason.CLAIMS_NOT_VOTED.value if pre else None)


def declared_form(config: ElectionConfig, declared: P.Declared) -> TentativeForm:
    """仮投票 of a person not found on the roll: nothing preselected, the reason chosen by the supervisor."""
    contests = tuple((c.contest_id, c.name) for c in config.contests)
    return TentativeForm(None, declared.name, contests, frozenset(), declared=declared)


def who_text(form: TentativeForm) -> str:
    """The voter line of the 仮投票 form."""
    if form.voter_id is not None:
        return f"{form.voter_name} 様（選挙人番号 {form.voter_id}）"
    d = form.declared
    birth = f"  生年月日 {to_wareki(d.birth_date)}" if d is not None and d.birth_date else "  生年月日 申立てなし"
    return f"名簿に見つからない方（申立て）: {form.voter_name} 様{birth}"


def toggle(form: TentativeForm, contest: str) -> TentativeForm:
    sel = set(form.selected)
    sel.symmetric_difference_update({contest})
    return replace(form, selected=frozenset(sel), message="")


def submit(form: TentativeForm, port: ProceduresPort, clerk: str, config: ElectionConfig) -> TentativeForm:
    if not form.can_submit:
        return replace(form, message="選挙・理由・決定者をすべて入力してください")
    order = [c for c, _ in form.contests if c in form.selected]
    try:
        rec = port.record_tentative(contests=order, reason=str(form.reason), decided_by=form.decided_by, clerk=clerk,
                                    voter_id=form.voter_id,
                                    declared=None if form.voter_id else form.declared or P.Declared(form.voter_name))
    except MeiboError as e:
        return replace(form, message=f"× 記録できませんでした: {e.message}")
    return replace(form, done=rec, message=rec.text(config))


def install_tentative_action(flow: Any, on_form: Callable[[TentativeForm], None]) -> None:
    """Offer 仮投票 on every 投票済 result of ``flow`` (a ``KioskFlow``, or its check-in presenter:
    anything with ``add_hard_stop_action``, ``result_voter_id`` and ``service``): the handler builds
    the form from the stopped voter and hands it to ``on_form`` (the view shows it; ``submit`` records it)."""

    def handler(_router: Any, result: Any) -> None:
        voter_id = flow.result_voter_id  # a roll voter id, or Z:<number> for a 在外選挙人
        refused = [w.name for w in result.withhold if w.already_voted]
        on_form(tentative_form(flow.service.config, voter_id, result.voter_name, refused))

    flow.add_hard_stop_action(Action("tentative", "仮投票（管理者）"), handler)


__all__ = ["TENTATIVE_TITLE", "TENTATIVE_INSTRUCTION", "DECIDERS", "Panel", "oath_choices", "opening_panel", "closing_panel", "balance", "contest_lines",
           "figures_lines", "figures_flagged", "declared_form", "who_text", "absentee_banner", "ProceduresPort",
           "TentativeForm", "tentative_form", "toggle", "submit", "install_tentative_action"]
