"""Command: ``meibo hq add-node HQDIR NEWDIR --node-name NAME`` (本部ノードの追加, issue 18).

The verb is hq/nodes.py's ``add_node``; this module parses and prints. Never imports the UI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.dirs import HqDir
from cli.base import Cli, Outcome
from ground.clock import clock_from_arg
from hq.nodes import add_node


def _cmd_add_node(args: argparse.Namespace) -> Outcome:
    new = add_node(HqDir(Path(args.hqdir)), Path(args.newdir), args.node_name, clock_from_arg(args.now),
                   host=args.host)
    return Outcome({"code": "ok", "hqdir": args.newdir, "node": args.node_name, "from": args.hqdir},
                   f"本部ノード {args.node_name} のディレクトリを作成しました: {new.root}\n"
                   "TLS 証明書はこのノード専用に選挙 CA から発行しました（元のノードの鍵は複製していません）。\n"
                   "両ノードを同じ PostgreSQL の store（[hq] store または --store）で起動してください")


def register(cli: Cli) -> None:
    p = cli.command("hq", "add-node", _cmd_add_node, "本部ノードを追加する（二重化: 専用の TLS 証明書を発行）")
    p.add_argument("hqdir", help="いまの本部ディレクトリ")
    p.add_argument("newdir", help="新しいノードのディレクトリ（空か、まだないこと）")
    p.add_argument("--node-name", required=True, help="ノード名（例 hq-b）")
    p.add_argument("--host", help="このノードのアドレス host:port（証明書に加える）")
    p.add_argument("--now", help="ISO 8601 (Japan time)")
