"""生年月日 不詳 and the 18-year rule (issue 19): the known part proves 18 → a ballot; proves under
18 → ``underage``; cannot tell → ``age_confirm_id`` until the poll worker confirms from an ID,
which the check-in records in the journal (surviving restart, export, and reaching HQ)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from appliance.birthdate import BirthDate, parse_birth
from appliance.eligibility import AGE_ID_KINDS, Code, age_rule, decide
from appliance.terminal import Terminal
from ground.clock import FixedClock
from ground.errors import UsageError
from hq.ledger import Ledger
from hq.procedures import age_confirmations
from sync_protocol.journal_file import export_journal, read_journal_file
from tests.builders import EARLY_NOON, ELECTION_NOON, election_config, terminal_dir, voter

CFG = election_config()  # election day 2027-04-25: 18 years before is 2009
DAY = CFG.election_day
E01, C01 = CFG.station("E01"), CFG.station("C01")


@pytest.mark.parametrize(("text", "code"), [
    ("2008-00-00", Code.OK),              # any day of 2008 is 18 by 2027-04-25
    ("2009-00-00", Code.AGE_CONFIRM_ID),  # exactly 18 years before: January yes, December no
    ("2010-00-00", Code.UNDERAGE),        # every day of 2010 is under 18
    ("2009-03-00", Code.OK),              # reached by 2027-03-30 at the latest
    ("2009-04-00", Code.AGE_CONFIRM_ID),  # 1–26 April yes, 27–30 April no
    ("2009-05-00", Code.UNDERAGE),
    ("2009-04-26", Code.OK),              # a known date: reached the day before the birthday
    ("2009-04-27", Code.UNDERAGE),
    ("0000-00-00", Code.AGE_CONFIRM_ID),  # 不詳: nothing known
    ("昭和20年不詳", Code.OK),
    ("平成21年不詳", Code.AGE_CONFIRM_ID),  # 2009
    ("平成21年3月不詳", Code.OK),
    ("不詳", Code.AGE_CONFIRM_ID),
])
def test_the_18_year_rule_table(text: str, code: Code) -> None:
    got, why = age_rule(parse_birth(text), DAY)
    assert got is code
    assert (why == "") is (code is Code.OK)


def test_decision_on_election_day_and_early() -> None:
    unknown = voter("100001", birth_date=parse_birth("2009-00-00"))  # type: ignore[arg-type]
    d = decide(CFG, C01, unknown, ELECTION_NOON, {})
    assert d.needs_age_confirm and not d.handed and d.code is Code.AGE_CONFIRM_ID
    assert "本人確認書類" in d.contests[0].reason and "不詳" in d.contests[0].reason
    ok = decide(CFG, C01, unknown, ELECTION_NOON, {}, age_confirmed=True)
    assert len(ok.handed) == 4 and all("年齢確認済み" in c.note for c in ok.handed)
    # the confirmation never lifts any other refusal
    young = voter("100002", birth_date=parse_birth("2010-00-00"))  # type: ignore[arg-type]
    assert decide(CFG, C01, young, ELECTION_NOON, {}, age_confirmed=True).code is Code.UNDERAGE
    # early: proven 18 by election day but maybe not today → confirm from the ID too
    march = voter("100003", birth_date=parse_birth("2009-04-00"))  # type: ignore[arg-type]
    assert decide(CFG, E01, march, EARLY_NOON, {}).code is Code.AGE_CONFIRM_ID
    known = voter("100004", birth_date=date(2009, 4, 23))  # reaches 18 on 2027-04-22
    assert decide(CFG, E01, known, EARLY_NOON, {}).code is Code.UNDERAGE_EARLY


def test_checkin_refused_without_confirmation_recorded_with_it(tmp_path: Path) -> None:
    unknown = voter("200001", birth_date=BirthDate(2009))  # type: ignore[arg-type]
    plain = voter("200002")
    tdir = terminal_dir(tmp_path / "t", [unknown, plain], station="C01")
    with Terminal(tdir, FixedClock(ELECTION_NOON)) as t:
        assert t.voter("200001").birth_date == BirthDate(2009)
        refused = t.checkin("200001", "c1")
        assert not refused.recorded and refused.decision.code is Code.AGE_CONFIRM_ID
        assert t.head().seq == 0
        with pytest.raises(UsageError) as e:
            t.checkin("200001", "c1", {"age_confirmed": "library_card"})
        assert e.value.code == "age_id_invalid" and t.head().seq == 0
        done = t.checkin("200001", "c1", {"age_confirmed": "license"})
        assert done.recorded and len(done.handed) == 4
        other = t.checkin("200002", "c1", {"age_confirmed": "license"})  # not needed: not recorded
        assert other.recorded
    with Terminal(tdir, FixedClock(ELECTION_NOON)) as t:  # after a restart, from the journal itself
        rows = [json.loads(b)["d"] for (b,) in t.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
        assert rows[0]["voter"] == "200001" and rows[0]["age_confirmed"] == "license"
        assert AGE_ID_KINDS[rows[0]["age_confirmed"]] == "運転免許証"
        assert rows[1]["voter"] == "200002" and "age_confirmed" not in rows[1]
        assert t.checkin("200001", "c1", {"age_confirmed": "license"}).decision.code is Code.ALREADY_VOTED
        out = tmp_path / "export.mbj"
        export_journal(t.store, SigningKey(b"\x01" * 32), CFG.election_id, "T01", "C01", out, "2027-04-25T20:00")
    _, frames = read_journal_file(out)
    events = [ev for fr in frames for ev in fr.events]
    assert events[0].data["age_confirmed"] == "license"
    led = Ledger(CFG.election_id)  # HQ takes the marked check-in like any other
    led.register("T01", "C01", b"")
    for ev in events:
        led.apply(ev)
    assert led.ballot_count("200001", "shu") == 1 and not led.alerts
    assert age_confirmations(events) == [{"terminal": "T01", "seq": 1, "station": "C01", "voter": "200001",
                                          "id_kind": "license", "id_label": "運転免許証"}]


def test_cli_checkin_asks_for_and_records_the_age_confirmation(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from cli.main import main
    from appliance.procedures import checkin_marks

    tdir = terminal_dir(tmp_path / "t", [voter("300001", birth_date=BirthDate(None))], station="C01")  # type: ignore[arg-type]
    now = ["--now", "2027-04-25T12:00", "--json"]
    rc = main(["terminal", "checkin", str(tdir.root), "300001", *now])
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc != 0 and d["code"] == "age_confirm_id"
    rc = main(["terminal", "checkin", str(tdir.root), "300001", "--age-confirmed", "passport", *now])
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and d["code"] == "ok"
    with Terminal(tdir, FixedClock(ELECTION_NOON)) as t:
        (body,) = t.store.conn.execute("SELECT body FROM journal WHERE kind='checkin'").fetchone()
    assert json.loads(body)["d"]["age_confirmed"] == "passport"
    assert checkin_marks(C01, age_confirmed="license") == {"age_confirmed": "license"}
    with pytest.raises(UsageError) as e:
        checkin_marks(C01, age_confirmed="nothing")
    assert e.value.code == "age_id_invalid"


def test_display_and_reports_never_guess_the_unknown_part() -> None:
    from appliance.birthdate import birth_wareki
    from hq.procedures import AGE_UNKNOWN_BAND, RollFact, turnout_by_age

    assert birth_wareki(BirthDate(1945, 3)) == "昭和20年3月不詳" and birth_wareki(BirthDate(1945)) == "昭和20年不詳"
    assert birth_wareki(BirthDate(1945, 3), short=True) == "S20.3 不詳" and birth_wareki(BirthDate(None)) == "不詳"
    assert birth_wareki(BirthDate(1985, 4, 1)) == "昭和60年4月1日"
    assert BirthDate(1945).age_text(DAY) == "81〜82歳" and BirthDate(1945, 3).age_on(DAY) == 82
    assert BirthDate(None).age_on(DAY) is None and BirthDate(None).age_text(DAY) == "年齢不詳"
    roll = {"1": RollFact(1, "M", BirthDate(1945), "registered"), "2": RollFact(1, "F", date(1985, 4, 1), "registered")}
    rows = {r["band"]: r for r in turnout_by_age(Ledger(CFG.election_id), CFG, roll).rows}
    assert rows[AGE_UNKNOWN_BAND]["electors"] == 1  # its own row, never put into a band by a guess
    assert sum(r["electors"] for r in rows.values()) == 2


def test_import_refuses_a_unknown_date_whose_known_part_proves_under_18() -> None:
    from appliance.rollcsv import parse_roll
    from ground.errors import RollInvalid
    from tests.builders_roll import csv_text

    def rows(birth: str) -> bytes:
        return csv_text([["0000000001", "1", "山田 太郎", "ヤマダ タロウ", birth, "男", "横浜市中区1-1"]]).encode()

    (v,) = parse_roll(rows("平成21年不詳"), election_day=DAY)  # 2009: the ID decides at the station
    assert v.birth_date == BirthDate(2009)
    with pytest.raises(RollInvalid) as e:
        parse_roll(rows("2010-00-00"), election_day=DAY)
    (p,) = e.value.problems
    assert (p.row, p.column) == (2, "生年月日") and "18 歳未満" in p.message
