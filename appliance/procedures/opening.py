"""The opening check: the terminal's election, contests, roll and 在外 roll versions against HQ's (as
the sync agent learnt them in WELCOME); a typed result that names both versions on a mismatch."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.procedures.zaigai import installed_zaigai_version
from appliance.terminal import Terminal
from ground.model import StationKind


@dataclass(frozen=True)
class VersionInfo:
    election_id: str
    contests: tuple[str, ...] | None  # None: not known (HQ does not send it yet)
    roll_version: int | None  # None: no roll installed / not known
    # 在外選挙人名簿. Terminal: the installed version (None: none). HQ: its published version from
    # WELCOME ``zaigai`` (0: none published; None: not known, an HQ that does not send it).
    zaigai_version: int | None = None
    # Terminal only: this station must hold HQ's 在外 roll (an early station takes 在外選挙人).
    zaigai_required: bool = False


@dataclass(frozen=True)
class OpeningCheck:
    """``ok`` (green), ``mismatch`` (red: names both), or ``unchecked`` (amber: HQ unreachable)."""

    status: str
    local: VersionInfo
    hq: VersionInfo | None
    problems: tuple[str, ...] = ()  # Japanese, one per mismatch
    codes: tuple[str, ...] = ()  # election_mismatch | contests_mismatch | roll_version_mismatch |
    #                                zaigai_version_mismatch | no_roll

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def text(self) -> str:
        lv = self.local
        head = {"ok": "✓ 開設前の確認: 本部と一致しています",
                "mismatch": "× 開設前の確認: 本部と一致しません — 開設せず選挙管理委員会に連絡してください",
                "unchecked": "！ 開設前の確認: 本部に接続できないため照合できていません（接続後に再確認してください）"}[self.status]
        zaigai = lv.zaigai_required or bool(lv.zaigai_version) or "zaigai_version_mismatch" in self.codes
        lines = [head, f"  この端末: 選挙 {lv.election_id}  選挙数 {len(lv.contests or ())}  "
                       f"名簿 {_v(lv.roll_version)}" + (f"  在外選挙人名簿 {_v(lv.zaigai_version)}" if zaigai else "")]
        if self.hq is not None:
            hz = self.hq.zaigai_version
            lines.append(f"  本部:     選挙 {self.hq.election_id}  "
                         f"選挙数 {'—' if self.hq.contests is None else len(self.hq.contests)}  名簿 {_v(self.hq.roll_version)}"
                         + (f"  在外選挙人名簿 {'—' if hz is None else _v(hz)}" if zaigai else ""))
        lines += [f"  × {p}" for p in self.problems]
        return "\n".join(lines)


def _v(version: int | None) -> str:
    return "未導入" if not version else f"第{version}版"


def local_versions(term: Terminal) -> VersionInfo:
    rv = term.store.get_meta("roll_version")
    return VersionInfo(term.config.election_id, tuple(term.config.contest_ids), int(rv) if rv else None,
                       installed_zaigai_version(term.store), term.station.kind is StationKind.EARLY)


def opening_check(local: VersionInfo, hq: VersionInfo | None, *, refused: str | None = None) -> OpeningCheck:
    """Pure: compare the terminal's election, contests and roll version with HQ's.

    ``hq`` None means HQ was not reached (``refused`` names HQ's refusal code when it refused us;
    ``other_election`` is a mismatch of the election itself)."""
    if refused == "other_election":
        return OpeningCheck("mismatch", local, hq, (f"本部はこの端末の選挙（{local.election_id}）を扱っていません",),
                            ("election_mismatch",))
    problems: list[str] = []
    codes: list[str] = []
    if not local.roll_version:
        problems.append("この端末に名簿が導入されていません")
        codes.append("no_roll")
    if hq is None:
        if problems:
            return OpeningCheck("mismatch", local, None, tuple(problems), tuple(codes))
        return OpeningCheck("unchecked", local, None)
    if hq.election_id != local.election_id:
        problems.append(f"選挙が違います（この端末: {local.election_id}、本部: {hq.election_id}）")
        codes.append("election_mismatch")
    if hq.contests is not None and local.contests is not None and tuple(hq.contests) != tuple(local.contests):
        problems.append(f"選挙の組合せが違います（この端末: {'・'.join(local.contests)}、本部: {'・'.join(hq.contests)}）")
        codes.append("contests_mismatch")
    if local.roll_version and hq.roll_version != local.roll_version:
        problems.append(f"名簿の版が違います（この端末: {_v(local.roll_version)}、本部: {_v(hq.roll_version)}）")
        codes.append("roll_version_mismatch")
    # 在外選挙人名簿: compared when HQ says its version, at a station that needs it (early) or holds
    # one (a designated station learns it is designated from the package itself). A station that
    # holds none while HQ published none (0) is in agreement.
    if hq.zaigai_version is not None and (local.zaigai_required or local.zaigai_version) \
            and (local.zaigai_version or 0) != hq.zaigai_version:
        problems.append(f"在外選挙人名簿の版が違います（この端末: {_v(local.zaigai_version)}、本部: {_v(hq.zaigai_version)}）")
        codes.append("zaigai_version_mismatch")
    return OpeningCheck("mismatch" if problems else "ok", local, hq, tuple(problems), tuple(codes))
