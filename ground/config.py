"""election.toml: one election day, its contests and stations. Pure parsing and validation.

Every problem is reported with the key it concerns (``station[2].open[0].hours``), all at once,
so that HQ staff fix the file in one pass. Nothing is created from an invalid file.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from ground.barcode import format_problems
from ground.errors import ConfigInvalid, Problem
from ground.model import (BarcodeFormat, Contest, ContestId, ElectionConfig, Level,
                             OpenWindow, Station, StationId, StationKind)
from ground.rehearsal import SUFFIX as REHEARSAL_SUFFIX
from ground.rehearsal import is_rehearsal

_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
EARLIEST_OPEN = time(6, 30)  # 期日前投票所 hours may be extended to 6:30–22:00
LATEST_CLOSE = time(22, 0)
MAX_CONFIG_BYTES = 1 << 20


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, key: str, message: str, code: str = "config_invalid") -> None:
        self.problems.append(Problem(code=code, message=message, file=self.file, column=key))


def load_config(path: Path) -> ElectionConfig:
    """Read and validate election.toml; raise ``ConfigInvalid`` listing every problem."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigInvalid(f"設定ファイルを読めません: {path} ({e.strerror})", code="config_unreadable")
    return parse_config(raw, str(path))


def parse_config(raw: bytes, file: str = "election.toml") -> ElectionConfig:
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigInvalid(f"{file}: 設定ファイルが大きすぎます（{len(raw)} バイト）", code="config_too_large")
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigInvalid(f"{file}: UTF-8 で書かれていません", code="config_encoding")
    except tomllib.TOMLDecodeError as e:
        raise ConfigInvalid(f"{file}: TOML の書式誤り: {e}", code="config_syntax")
    c = _Collector(file)
    cfg = _build(data, c)
    if c.problems or cfg is None:
        lines = "\n".join(f"  {p.where()}: {p.message}" for p in c.problems)
        raise ConfigInvalid(f"{file}: 設定に誤りがあります（{len(c.problems)} 件）\n{lines}", problems=c.problems)
    return cfg


def _date(v: Any, key: str, c: _Collector) -> date | None:
    if isinstance(v, date) and not hasattr(v, "hour"):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    c.add(key, f"日付が読めません: {v!r}（例: 2027-04-25）")
    return None


def _str(d: dict[str, Any], k: str, key: str, c: _Collector, required: bool = True) -> str | None:
    v = d.get(k)
    if v is None:
        if required:
            c.add(key, "必須の項目がありません")
        return None
    if not isinstance(v, str) or not v.strip():
        c.add(key, f"文字列で指定してください: {v!r}")
        return None
    return v


def _hours(v: Any, key: str, c: _Collector) -> tuple[time, time] | None:
    m = _HOURS.match(v) if isinstance(v, str) else None
    if not m:
        c.add(key, f"時間帯が読めません: {v!r}（例: \"08:30-20:00\"）")
        return None
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        c.add(key, f"時刻が正しくありません: {v!r}")
        return None
    opens = time(h1, m1)
    closes = time.max if h2 == 24 else time(h2, m2)
    if closes <= opens:
        c.add(key, f"終了時刻が開始時刻より前です: {v!r}")
        return None
    return opens, closes


def _hq_node(v: Any, key: str, c: _Collector) -> str | None:
    """One HQ node's ``host:port``; a problem (code ``hq_address_malformed``) when it is not one."""
    if not isinstance(v, str) or not _HOST_PORT.match(v):
        c.add(key, f"host:port の形で指定してください: {v!r}", code="hq_address_malformed")
        return None
    if not 0 < int(v.rsplit(":", 1)[1]) < 65536:
        c.add(key, f"ポート番号が範囲外です: {v!r}", code="hq_address_malformed")
        return None
    return v


def _hq_addresses(hq: dict[str, Any], c: _Collector) -> tuple[str | None, tuple[str, ...]]:
    """``[hq] address`` (one node) and/or ``addresses`` (every HQ node, in the order terminals try
    them): (the one address, the nodes). With both, ``address`` must be one of ``addresses``; it is
    the node that names HQ where one address is asked for (the enrollment window, the PKI)."""
    if "addresses" not in hq:
        if "address" not in hq:
            c.add("hq.address", "必須の項目がありません")
            return None, ()
        one = _hq_node(hq["address"], "hq.address", c)
        return one, (one,) if one is not None else ()
    raw = hq["addresses"]
    if not isinstance(raw, list):
        c.add("hq.addresses", f"\"host:port\" の配列で指定してください: {raw!r}", code="hq_address_malformed")
        return None, ()
    if not raw:
        c.add("hq.addresses", "本部のアドレスが一つもありません", code="hq_addresses_empty")
        return None, ()
    nodes: list[str] = []
    for i, v in enumerate(raw):
        node = _hq_node(v, f"hq.addresses[{i}]", c)
        if node is None:
            continue
        if node in nodes:
            c.add(f"hq.addresses[{i}]", f"本部のアドレスが重複しています: {node!r}", code="hq_address_duplicate")
            continue
        nodes.append(node)
    one = nodes[0] if nodes else None
    if "address" in hq:
        given = _hq_node(hq["address"], "hq.address", c)
        if given is not None and nodes and given not in nodes:
            c.add("hq.address", f"address {given!r} が addresses {nodes!r} にありません（どちらか一方にするか、"
                  "addresses の一つを書いてください）", code="hq_address_not_listed")
        one = given if given is not None else one
    return one, tuple(nodes)


def _build(data: dict[str, Any], c: _Collector) -> ElectionConfig | None:
    known_top = {"election", "hq", "contest", "station", "barcode", "network"}
    for k in data:
        if k not in known_top:
            c.add(k, "不明な項目です")
    el = data.get("election")
    if not isinstance(el, dict):
        c.add("election", "[election] がありません")
        return None
    eid = _str(el, "id", "election.id", c)
    if eid is not None and not _ID.match(eid):
        c.add("election.id", f"英数字と - _ . のみ、32 文字までで指定してください: {eid!r}")
    elif eid is not None and is_rehearsal(eid):
        c.add("election.id", f"{REHEARSAL_SUFFIX!r} で終わる id はリハーサル用のため使えません: {eid!r}")
    name = _str(el, "name", "election.name", c)
    day = _date(el.get("election_day"), "election.election_day", c) if "election_day" in el else None
    if "election_day" not in el:
        c.add("election.election_day", "必須の項目がありません")
    ev_start = _date(el["early_voting_start"], "election.early_voting_start", c) if "early_voting_start" in el else None
    ev_end = _date(el["early_voting_end"], "election.early_voting_end", c) if "early_voting_end" in el else None
    if day is not None:
        if ev_start is None and "early_voting_start" not in el:
            ev_start = day - timedelta(days=1)
        if ev_end is None and "early_voting_end" not in el:
            ev_end = day - timedelta(days=1)
        if ev_end is not None and ev_end >= day:
            c.add("election.early_voting_end", "期日前投票の終了日は選挙期日より前にしてください")
    if ev_start and ev_end and ev_start > ev_end:
        c.add("election.early_voting_start", "期日前投票の開始日が終了日より後です")

    hq = data.get("hq")
    hq_address = hq_store = None
    hq_addresses: tuple[str, ...] = ()
    if not isinstance(hq, dict):
        c.add("hq", "[hq] がありません")
    else:
        hq_address, hq_addresses = _hq_addresses(hq, c)
        hq_store = _str(hq, "store", "hq.store", c, required=False)  # its form: hq/store_db.py

    contests: list[Contest] = []
    raw_contests = data.get("contest", [])
    if not isinstance(raw_contests, list):
        c.add("contest", "[[contest]] の表で指定してください")
        raw_contests = []
    seen: set[str] = set()
    for i, rc in enumerate(raw_contests):
        k = f"contest[{i}]"
        if not isinstance(rc, dict):
            c.add(k, "表で指定してください")
            continue
        cid = _str(rc, "id", f"{k}.id", c)
        cname = _str(rc, "name", f"{k}.name", c)
        if cid is not None:
            if not _ID.match(cid):
                c.add(f"{k}.id", f"英数字と - _ . のみで指定してください: {cid!r}")
            if cid in seen:
                c.add(f"{k}.id", f"選挙の id が重複しています: {cid!r}")
            seen.add(cid)
        lv = rc.get("level", "municipal")
        try:
            level = Level(lv)
        except ValueError:
            c.add(f"{k}.level", f"national / prefectural / municipal のいずれかです: {lv!r}")
            level = Level.MUNICIPAL
        cs = _date(rc["early_voting_start"], f"{k}.early_voting_start", c) if "early_voting_start" in rc else ev_start
        ce = _date(rc["early_voting_end"], f"{k}.early_voting_end", c) if "early_voting_end" in rc else ev_end
        if cs and ce and cs > ce:
            c.add(f"{k}.early_voting_start", "期日前投票の開始日が終了日より後です")
        if day and ce and ce >= day:
            c.add(f"{k}.early_voting_end", "期日前投票の終了日は選挙期日より前にしてください")
        if cid and cname and cs and ce:
            contests.append(Contest(ContestId(cid), cname, level, cs, ce))
    if not raw_contests and eid and name and ev_start and ev_end:
        contests.append(Contest(ContestId(eid), name, Level.MUNICIPAL, ev_start, ev_end))

    stations: list[Station] = []
    raw_stations = data.get("station", [])
    if not isinstance(raw_stations, list) or not raw_stations:
        c.add("station", "[[station]] が一つもありません")
        raw_stations = [] if not isinstance(raw_stations, list) else raw_stations
    sseen: set[str] = set()
    for i, rs in enumerate(raw_stations):
        k = f"station[{i}]"
        if not isinstance(rs, dict):
            c.add(k, "表で指定してください")
            continue
        sid = _str(rs, "id", f"{k}.id", c)
        sname = _str(rs, "name", f"{k}.name", c)
        if sid is not None:
            if not _ID.match(sid):
                c.add(f"{k}.id", f"英数字と - _ . のみで指定してください: {sid!r}")
            if sid in sseen:
                c.add(f"{k}.id", f"投票所の id が重複しています: {sid!r}")
            sseen.add(sid)
        kind_raw = rs.get("kind")
        try:
            kind = StationKind(kind_raw)
        except ValueError:
            c.add(f"{k}.kind", f"early / common / day のいずれかです: {kind_raw!r}")
            continue
        district = rs.get("district")
        if kind is StationKind.DAY:
            if not isinstance(district, int) or isinstance(district, bool) or district < 0:
                c.add(f"{k}.district", "当日投票所には投票区（整数）が必要です")
                district = None
        elif district is not None:
            c.add(f"{k}.district", "投票区は当日投票所にだけ指定します")
            district = None
        windows: list[OpenWindow] = []
        raw_open = rs.get("open", [])
        if not isinstance(raw_open, list):
            c.add(f"{k}.open", "[[station.open]] の表で指定してください")
            raw_open = []
        if kind is StationKind.EARLY:
            default_from, default_to = ev_start, ev_end
        else:
            default_from = default_to = day
        for j, ro in enumerate(raw_open):
            ok = f"{k}.open[{j}]"
            if not isinstance(ro, dict):
                c.add(ok, "表で指定してください")
                continue
            f = _date(ro["from"], f"{ok}.from", c) if "from" in ro else default_from
            t = _date(ro["to"], f"{ok}.to", c) if "to" in ro else default_to
            hrs = _hours(ro["hours"], f"{ok}.hours", c) if "hours" in ro else (time(0, 0), time.max)
            if hrs is None or f is None or t is None:
                continue
            if f > t:
                c.add(f"{ok}.from", "開始日が終了日より後です")
                continue
            if kind is StationKind.EARLY:
                if "hours" in ro and (hrs[0] < EARLIEST_OPEN or hrs[1] > LATEST_CLOSE):
                    c.add(f"{ok}.hours", "期日前投票所の時間は 6:30〜22:00 の範囲です")
                if ev_start and ev_end and (f < min(ev_start, *(x.early_voting_start for x in contests)) or t > ev_end):
                    c.add(ok, "期日前投票の期間の外の日が含まれています")
            elif day and (f != day or t != day):
                c.add(ok, "共通投票所・当日投票所は選挙期日にだけ開きます")
            windows.append(OpenWindow(f, t, hrs[0], hrs[1]))
        if not raw_open and default_from and default_to:
            windows.append(OpenWindow(default_from, default_to, time(0, 0), time.max))
        if sid and sname:
            stations.append(Station(StationId(sid), sname, kind, district, tuple(windows)))

    barcode = _barcode(data.get("barcode", {}), eid or "", c)
    net = data.get("network", {})
    closed_apn = net.get("closed_apn") if isinstance(net, dict) else None
    if closed_apn is not None and not isinstance(closed_apn, str):
        c.add("network.closed_apn", "文字列で指定してください")
        closed_apn = None

    if c.problems or not (eid and name and day and ev_start and ev_end and hq_address):
        return None
    return ElectionConfig(eid, name, day, ev_start, ev_end, hq_address, tuple(contests),
                          tuple(stations), barcode, closed_apn, hq_store=hq_store, hq_addresses=hq_addresses)


_BARCODE_KEYS = {"prefix", "luhn", "symbology", "check", "nw7_start", "nw7_stop", "voter_digits",
                 "election", "qr_separator", "qr_fields"}


def _barcode(bc: Any, election_id: str, c: _Collector) -> BarcodeFormat:
    """[barcode]: symbology, check scheme and layout (ground/barcode.py); absent = prefix + Luhn."""
    if not isinstance(bc, dict):
        c.add("barcode", "[barcode] は表で指定してください")
        return BarcodeFormat()
    before = len(c.problems)
    for k in bc:
        if k not in _BARCODE_KEYS:
            c.add(f"barcode.{k}", "不明な項目です")
    prefix = bc.get("prefix", "")
    if not isinstance(prefix, str) or not prefix.isascii() or not prefix.isdigit() and prefix != "":
        c.add("barcode.prefix", f"数字で指定してください: {prefix!r}")
        prefix = ""
    luhn = bc.get("luhn", True)
    if not isinstance(luhn, bool):
        c.add("barcode.luhn", "true / false で指定してください")
        luhn = True
    if "luhn" in bc and "check" in bc:
        c.add("barcode.check", "check と luhn はどちらか一方だけ書いてください", code="barcode_check_unknown")
    strs: dict[str, str] = {}
    for key, default in (("symbology", "digits"), ("check", ""), ("nw7_start", "ABCD"), ("nw7_stop", "ABCD"),
                         ("election", election_id), ("qr_separator", "|")):
        v = bc.get(key, default)
        if not isinstance(v, str):
            c.add(f"barcode.{key}", f"文字列で指定してください: {v!r}")
            v = default
        strs[key] = v
    digits = bc.get("voter_digits", 0)
    if not isinstance(digits, int) or isinstance(digits, bool):
        c.add("barcode.voter_digits", f"整数で指定してください: {digits!r}")
        digits = 0
    fields = bc.get("qr_fields", ["election", "district", "voter"])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        c.add("barcode.qr_fields", f"文字列の配列で指定してください: {fields!r}", code="barcode_layout_invalid")
        fields = ["election", "district", "voter"]
    fmt = BarcodeFormat(prefix, luhn, symbology=strs["symbology"], check=strs["check"],
                        nw7_start=strs["nw7_start"].upper(), nw7_stop=strs["nw7_stop"].upper(),
                        voter_digits=digits, election=strs["election"], qr_separator=strs["qr_separator"],
                        qr_fields=tuple(fields))
    for key, message, code in format_problems(fmt):
        c.add(key, message, code=code)
    return fmt if len(c.problems) == before else BarcodeFormat()
