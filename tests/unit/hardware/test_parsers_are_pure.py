"""The parsers and the failover policy import no port, no OS and no event loop (sans-I/O)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hardware

ROOT = Path(hardware.__file__).parent
FORBIDDEN = {"serial", "os", "asyncio", "socket", "select", "termios", "pty", "time", "random"}


@pytest.mark.parametrize("module", ["modem/parser.py", "modem/base.py", "scanner/parser.py", "settings.py"])
def test_pure_module_imports(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text("utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    bad = names & FORBIDDEN
    if module == "modem/base.py":
        bad -= {"asyncio"}  # only for the Subscribers queue type, no I/O
    assert not bad, f"{module} imports {bad}"


async def test_real_driver_applies_a_urc_that_arrives_mid_response() -> None:
    from hardware.modem.driver import SerialModem
    from hardware.modem.simulator import ModemPtyServer, ModemSimulator
    from hardware.settings import ModemSettings

    sim = ModemSimulator()
    server = await ModemPtyServer(sim).start()
    m = SerialModem(server.path, closed_apn="c", settings=ModemSettings(command_timeout_s=0.5))
    try:
        await m.start()
        seen = []
        m.add_listener(lambda s: seen.append(s.registration.value))
        sim.deregister(mid_response=True)
        r = await m.command("AT+CSQ")  # the URC rides inside this answer
        assert r.ok and r.lines == ("+CSQ: 99,99",)
        assert seen == ["not_registered"] and m.stray_lines == 0
    finally:
        await m.close()
        await server.close()
