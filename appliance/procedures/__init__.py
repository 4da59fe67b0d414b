"""Election-day procedures at the station (issue 10): 仮投票, 宣誓書事由, 代理/点字 marks, the opening
check, closing the station for the day, 在外選挙人, and the 不在者投票 warning.

What this module owns, and its rules:
- **仮投票** (公職選挙法 50条): a ``tentative`` journal entry naming the voter as identified (a
  voter id on the roll) or as declared (name and birth date, no roll row), the reason, who
  decided, the clerk and the contests. It never touches the ``voted`` table and is never a
  ``checkin``: HQ keeps it in ``other_events`` and counts it apart, never as a ballot.
- **宣誓書事由** (公職選挙法 48条の2第1項各号; form: 施行令 49条の8): the statutory list as codes and
  labels. At an early station every check-in carries one (``oath_reason`` mark, stored as the
  English code); at other stations it is refused (no 宣誓書 there).
- **Closing** is a supervisor's act, never a clock cut-off: a ``station`` ``close`` entry; from then
  on ``ensure_accepting`` refuses check-ins with ``station_closed_for_day`` until a ``station``
  ``open`` entry reopens the station. The check-in paths call ``ensure_accepting`` first.
- **Opening check**: the terminal's election, contests and roll version against HQ's (as the sync
  agent learnt them in WELCOME); a typed result that names both versions on a mismatch.
- **在外選挙人**: a second roll (``zaigai_voters``) for national contests only, at early stations and
  at designated ones; it arrives only as HQ's signed package (appliance/zaigaipkg.py, verified
  before the store is opened; ``install_zaigai`` refuses another election or an older version and
  replaces roll, version and designated stations in one transaction); the 在外選挙人証 number must
  match; the issue is a ``checkin`` entry for voter ``Z:<number>`` with ``zaigai`` set, so HQ's
  double-vote rule covers it like any ballot.
- **不在者投票 status** notices from HQ (``absentee_notices``): a voter holding papers is warned,
  never blocked, with the procedure to follow.

Writes go through the terminal's ``Store.atomic()`` and ``journal.append`` (one transaction each).
Its tables come from the store's migrations (appliance/store.py), like every table of the store.
Never imports the network, HQ or the UI.

One module per procedure: common (errors, journal helpers), oath (宣誓書事由 and marks),
station_day (open, close, figures), opening (the opening check), tentative (仮投票), absentee
(不在者投票 notices), zaigai (在外選挙人). This package re-exports every name, so
``from appliance import procedures as P; P.record_tentative(...)`` keeps working.
"""

from appliance.procedures.absentee import ABSENTEE_STATE_JA, ABSENTEE_STATES, AbsenteeWarning, absentee_warning, \
    apply_absentee_notice
from appliance.procedures.common import (DECLARED_VOTER, OathReasonInvalid, OathReasonRequired, ProcedureError,
                                         StationClosedForDay, TentativeInvalid, ZaigaiRefused, journal_events)
from appliance.procedures.oath import OATH_LABELS, OathReason, checkin_marks, parse_oath_reason
from appliance.procedures.opening import OpeningCheck, VersionInfo, local_versions, opening_check
from appliance.procedures.station_day import (ClosingFigures, ContestFigures, DayState, close_station_day,
                                              closing_figures, day_state, ensure_accepting, open_station_day,
                                              station_figures)
from appliance.procedures.tentative import (Declared, TentativeReason, TentativeRecord, parse_tentative_reason,
                                            record_tentative)
from appliance.procedures.zaigai import (META_ZAIGAI_DESIGNATED, ZAIGAI_VERSION_META, ZaigaiCheckin, ZaigaiInstall,
                                         install_zaigai, installed_zaigai_version, zaigai_allowed_here,
                                         zaigai_checkin, zaigai_contests, zaigai_lookup)
from appliance.zaigaipkg import ZAIGAI_COLUMNS, ZAIGAI_PREFIX, ZaigaiVoter, parse_zaigai_csv

__all__ = ["OathReason", "OATH_LABELS", "parse_oath_reason", "checkin_marks", "DayState", "day_state",
           "ensure_accepting", "StationClosedForDay", "ClosingFigures", "ContestFigures", "closing_figures",
           "open_station_day", "close_station_day", "station_figures", "VersionInfo", "OpeningCheck",
           "local_versions", "opening_check", "TentativeReason", "parse_tentative_reason", "Declared",
           "TentativeRecord", "record_tentative", "ABSENTEE_STATES", "ABSENTEE_STATE_JA", "AbsenteeWarning",
           "apply_absentee_notice", "absentee_warning", "ZaigaiVoter", "ZAIGAI_COLUMNS", "ZAIGAI_PREFIX", "parse_zaigai_csv",
           "install_zaigai", "installed_zaigai_version", "ZaigaiInstall",
           "zaigai_checkin", "zaigai_contests", "zaigai_lookup", "zaigai_allowed_here", "ZaigaiCheckin",
           "ProcedureError", "OathReasonRequired", "OathReasonInvalid", "TentativeInvalid", "ZaigaiRefused",
           "DECLARED_VOTER", "META_ZAIGAI_DESIGNATED", "ZAIGAI_VERSION_META", "journal_events"]
