"""在外選挙人: a second roll (``zaigai_voters``) for national contests only, at early stations and at
designated ones. It arrives only as HQ's signed package (appliance/zaigaipkg.py, verified before
the store is opened); ``install_zaigai`` refuses another election or an older version and replaces
roll, version and designated stations in one transaction. The 在外選挙人証 number must match; the
issue is a ``checkin`` entry for voter ``Z:<number>`` with ``zaigai`` set, so HQ's double-vote
rule covers it like any ballot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from appliance import journal
from appliance.eligibility import VotedInfo, in_window
from appliance.procedures.common import ZaigaiRefused, contest_name, short
from appliance.procedures.station_day import ensure_accepting
from appliance.store import Store
from appliance.terminal import Terminal
from appliance.zaigaipkg import ZaigaiPackage, ZaigaiVoter, card_number, digits
from ground.errors import NotFound, RollRejected
from ground.events import Event, EventKind
from ground.model import ContestId, ElectionConfig, Level, Station, StationKind

META_ZAIGAI_DESIGNATED = "zaigai.designated_stations"
ZAIGAI_VERSION_META = "zaigai_version"
_ZAIGAI_INSERT = "INSERT INTO zaigai_voters VALUES (?,?,?,?,?,?,?,?,?)"


@dataclass(frozen=True)
class ZaigaiInstall:
    version: int
    previous_version: int | None
    voters: int
    designated: tuple[str, ...]
    digest: str


def installed_zaigai_version(store: Store) -> int | None:
    v = store.get_meta(ZAIGAI_VERSION_META)
    return int(v) if v else None


def install_zaigai(store: Store, pkg: ZaigaiPackage, election_id: str) -> ZaigaiInstall:
    """Install a 在外 package that ``zaigaipkg.open_zaigai_package`` verified (signature, format,
    rows) BEFORE the store was opened: the election must be this terminal's and the version newer
    than the installed one (an equal version is refused too); then the roll, its version and the
    designated stations (signed inside the package) replace the old ones in ONE transaction."""
    m = pkg.manifest
    if m.election_id != election_id:
        raise RollRejected(f"別の選挙の在外選挙人名簿です（名簿: {m.election_id}、この端末: {election_id}）。導入していません。",
                           code="zaigai_other_election", roll_election=m.election_id, election=election_id)
    with store.atomic() as c:
        # Re-read inside the write transaction: two installs cannot interleave.
        meta = dict(c.execute("SELECT key, value FROM meta WHERE key IN ('election_id', ?)", (ZAIGAI_VERSION_META,)))
        if meta.get("election_id", election_id) != election_id:
            raise RollRejected(f"この端末の記録は別の選挙（{meta['election_id']}）のものです。導入していません。",
                               code="zaigai_other_election")
        installed = int(meta[ZAIGAI_VERSION_META]) if meta.get(ZAIGAI_VERSION_META) else None
        if installed is not None and m.version <= installed:
            raise RollRejected(f"古い在外選挙人名簿です（パッケージの版 {m.version}、導入済み {installed}）。導入していません。",
                               code="zaigai_rollback", version=m.version, installed=installed)
        c.execute("DELETE FROM zaigai_voters")
        c.executemany(_ZAIGAI_INSERT, [(v.zaigai_id, v.card_no, v.name, v.kana, v.birth_date.isoformat(), v.sex,
                                        v.last_address, v.country, v.status) for v in pkg.voters])
        for k, val in ((ZAIGAI_VERSION_META, str(m.version)), ("zaigai_digest", m.body_sha256),
                       ("zaigai_manifest", m.encode().decode("utf-8")),
                       (META_ZAIGAI_DESIGNATED, ",".join(pkg.designated))):
            store.set_meta(c, k, val)
    return ZaigaiInstall(m.version, installed, len(pkg.voters), pkg.designated, m.body_sha256)


def zaigai_row(store: Store, zaigai_id: str) -> ZaigaiVoter:
    r = store.conn.execute("SELECT * FROM zaigai_voters WHERE zaigai_id=?", (digits(zaigai_id),)).fetchone()
    if r is None:
        raise NotFound(f"在外選挙人番号 {zaigai_id} は在外選挙人名簿にありません", code="zaigai_not_found")
    return ZaigaiVoter(r[0], r[1], r[2], r[3], date.fromisoformat(r[4]), r[5], r[6], r[7], r[8])


def zaigai_lookup(store: Store, zaigai_id: str) -> ZaigaiVoter:
    """The 在外選挙人 with this 在外選挙人番号 (full-width digits and hyphens accepted); NotFound if absent."""
    return zaigai_row(store, zaigai_id)


@dataclass(frozen=True)
class ZaigaiCheckin:
    voter: ZaigaiVoter
    seq: int | None
    handed: tuple[str, ...]  # contests whose ballots to hand, in order
    refused: tuple[tuple[str, str], ...]  # (contest, Japanese reason)
    event: Event | None = None

    def text(self, config: ElectionConfig) -> str:
        lines = [f"在外選挙人 {self.voter.name}（{self.voter.kana}）  在外選挙人番号 {self.voter.zaigai_id}  居住国 {self.voter.country}"]
        if self.handed:
            lines.append(f"交付する投票用紙（この順に手渡してください）  受付番号 {self.seq}")
            lines += [f"  {i}. {contest_name(config, c)}" for i, c in enumerate(self.handed, 1)]
            lines.append("  在外選挙人証に投票済の記載をしてください")
        else:
            lines.append("交付できる投票用紙はありません")
        lines += [f"  × {contest_name(config, c)}: {why}" for c, why in self.refused]
        return "\n".join(lines)


def zaigai_allowed_here(store: Store, station: Station) -> bool:
    designated = {s for s in (store.get_meta(META_ZAIGAI_DESIGNATED, "") or "").split(",") if s}
    return station.kind is StationKind.EARLY or station.station_id in designated


def zaigai_contests(config: ElectionConfig, st: Station, known: Mapping[ContestId, VotedInfo],
                    now: datetime) -> tuple[list[str], list[tuple[str, str]]]:
    """Which contests a 在外選挙人 may be handed here now, and why each other one is refused: national
    contests only, on election day unless at an early-voting station, within opening hours, not
    already voted, within the early-voting period at an early station. Pure (the kiosk's fake uses it too)."""
    refused: list[tuple[str, str]] = []
    handed: list[str] = []
    for c in config.contests:
        cid = c.contest_id
        if c.level is not Level.NATIONAL:
            refused.append((cid, "在外選挙人は国政選挙だけです"))
        elif st.kind is not StationKind.EARLY and now.date() != config.election_day:
            refused.append((cid, "この投票所は選挙期日にだけ受け付けます"))
        elif not in_window(st, now):
            refused.append((cid, "受付時間外です"))
        elif ContestId(cid) in known:
            k = known[ContestId(cid)]
            when = f" {k.at:%m月%d日 %H:%M}" if k.at else ""
            refused.append((cid, f"投票済です（投票所 {k.station}{when}）。二重に交付しないでください"))
        elif st.kind is StationKind.EARLY and not (c.early_voting_start <= now.date() <= c.early_voting_end):
            refused.append((cid, "期日前投票の期間外です"))
        else:
            handed.append(cid)
    return handed, refused


def zaigai_checkin(term: Terminal, zaigai_id: str, card_no: str, clerk: str,
                   marks: Mapping[str, Any] | None = None) -> ZaigaiCheckin:
    """Check in a 在外選挙人: national contests only, at early or designated stations, after the
    在外選挙人証 number matches. Recorded as a ``checkin`` of voter ``Z:<id>`` with ``zaigai``."""
    ensure_accepting(term.store)
    v = zaigai_row(term.store, zaigai_id)
    if card_number(card_no) != v.card_no:
        raise ZaigaiRefused("在外選挙人証の番号が名簿と一致しません。在外選挙人証を確認してください", code="zaigai_card_mismatch")
    if v.status != "registered":
        raise ZaigaiRefused("在外選挙人名簿から抹消されています。交付できません", code="not_eligible_deleted")
    if not zaigai_allowed_here(term.store, term.station):
        raise ZaigaiRefused("この投票所では在外選挙人の投票を受け付けません（期日前投票所または指定の投票所へご案内ください）",
                            code="zaigai_station_not_designated")
    now = term.clock.now()
    st = term.station
    extra = dict(marks or {})
    with term.store.atomic() as conn:
        known = term.known_voted(v.voter_key, conn)
        handed, refused = zaigai_contests(term.config, st, known, now)
        if not handed:
            return ZaigaiCheckin(v, None, (), tuple(refused))
        ev = journal.append(term.store, conn, EventKind.CHECKIN,
                            {"station": st.station_id, "clerk": short(clerk, "担当者ID"), "voter": v.voter_key,
                             "contests": handed, "zaigai": True, **extra}, term.hlc)
        conn.executemany("INSERT INTO voted(voter_id, contest, terminal, station, hlc, seq) VALUES(?,?,?,?,?,?)",
                         [(v.voter_key, c, term.terminal_id, st.station_id, ev.hlc, ev.seq) for c in handed])
    return ZaigaiCheckin(v, ev.seq, tuple(handed), tuple(refused), ev)
