"""The checker is not vacuous: a clean run checks clean, and each kind of damage to HQ's
state after the run is reported (forged event, lost acknowledged check-in, silenced alert)."""

from ground.events import Event, EventKind
from ground.model import TerminalId
from tooling.sim.checker import check
from tooling.sim.run import run_world


def _clean(seed):
    w, _, conv = run_world(seed)
    assert conv is not None and check(w, True) == []
    return w


def test_forged_event_at_hq_is_reported():
    for seed in range(40):
        w = _clean(seed)
        tid = w.mix.terminals[0]
        n = w.terminals[tid].journal.durable_n
        w.hq.log.records.append(Event(EventKind.CHECKIN, n + 1, 1, TerminalId(tid),
                                      {"station": "X", "clerk": "c", "voter": "999", "contests": ["shugiin"]}))
        w.hq.log.durable_n += 1
        assert any("never wrote durably" in v for v in check(w, True))
        return


def test_acknowledged_checkin_missing_at_hq_is_reported():
    for seed in range(40):
        w = _clean(seed)
        told = [t for t in w.history.told if t.terminal != "HQ"]
        if not told:
            continue
        t = told[0]
        keep = [e for e in w.hq.log.durable() if (e.terminal, e.seq) < (t.terminal, t.seq) or e.terminal != t.terminal]
        w.hq.log.records[:] = keep
        w.hq.log.durable_n = len(keep)
        assert any("never reached HQ" in v for v in check(w, True))
        return
    raise AssertionError("no seed told a poll worker anything")


def test_silenced_alert_is_reported():
    for seed in range(80):
        w = _clean(seed)
        alerts = w.hq.ledger.active_alerts()
        if alerts:
            alerts[0].active = False
            assert any(v.startswith("alert for") for v in check(w, True))
            return
    raise AssertionError("no double vote in 80 seeds")
