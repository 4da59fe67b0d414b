"""The client of a serving HQ's admin socket (one JSON line in, one out; ``hq/server.py``).

Used by the CLI, the console and the demo: a command that changes HQ's records asks the serving HQ
to do it (one writer), and does it itself only when HQ is not serving.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir
from ground.errors import MeiboError
from hq.server import ADMIN_SOCKET


async def ask_admin(path: Path, req: dict[str, Any], timeout: float = 60.0) -> dict[str, Any] | None:
    """One request on the admin socket at ``path``: its answer, or None when nobody listens."""
    if not path.exists():
        return None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 2.0)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        writer.write(json.dumps(req, ensure_ascii=False).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    return json.loads(line) if line else None


def ask_hq(hq: HqDir, req: dict[str, Any]) -> dict[str, Any] | None:
    """Run an admin request on the serving HQ; None when HQ is not serving."""
    out = asyncio.run(ask_admin(hq.root / ADMIN_SOCKET, req))
    if out is not None and out.get("status") == "error":
        err = MeiboError(str(out.get("message")), code=str(out.get("code")))
        raise err
    return out
