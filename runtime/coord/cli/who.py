"""coord-who: every Yoda with its last heartbeat, from the hub."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from coord import hub, presence
from coord.cli import common
from coord.config import Config, format_time
from coord.textline import duration, escape

NAME = "who"
JSON_VERSION = 1
EPILOG = "exit codes: 0 done, 1 error (the hub cannot be reached, for one), 2 usage error"
ORDER = {state: rank for rank, state in enumerate(presence.STATES)}


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "List every Yoda that ever sent a heartbeat, from the hub's records (one ssh\n"
        "call): LIVE when its last heartbeat is younger than COORD_LIVE_SECONDS (90),\n"
        "STALE when younger than COORD_STALE_SECONDS (180), DEAD after that, LEFT if it\n"
        "left cleanly; with its host and what it is doing (its claims' topics).",
        EPILOG,
    )
    parser.add_argument("--live", action="store_true", help="only the LIVE Yodas")
    parser.add_argument("--json", action="store_true", help="print the documented JSON shape")
    return parser


def entry(config: Config, record: presence.Heartbeat, now: datetime) -> dict:
    return {
        "yoda": record.yoda,
        "state": presence.state_of(config, record, now),
        "time": presence.to_json(record)["time"],
        "age_seconds": round((now - record.time).total_seconds(), 3),
        "host": record.host,
        "doing": list(record.doing),
        "left": record.left,
    }


def survey(config: Config) -> dict:
    records = {}
    for line in hub.records(config):
        record = presence.from_line(line.decode("utf-8", errors="replace"))
        if record is not None:
            records[record.yoda] = record
    now = config.now()
    entries = [entry(config, record, now) for record in records.values()]
    entries.sort(key=lambda item: (ORDER[item["state"]], item["yoda"]))
    return {"version": JSON_VERSION, "now": format_time(now), "yodas": entries}


def _table(entries: list[dict]) -> list[str]:
    if not entries:
        return ["no Yoda has sent a heartbeat yet"]
    rows = []
    for item in entries:
        what = "; ".join(escape(topic) for topic in item["doing"]) or "idle"
        if item["state"] == presence.LEFT:
            what = "-"
        if len(what) > 70:
            what = what[:67] + "..."
        host = escape(item["host"])
        rows.append(
            (item["yoda"], item["state"], duration(item["age_seconds"]) + " ago", host, what)
        )
    header = ("YODA", "STATE", "LAST SEEN", "HOST", "DOING")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(4)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4]
        for row in [header, *rows]
    ]


def who(args: argparse.Namespace, config: Config) -> int:
    document = survey(config)
    if args.live:
        document["yodas"] = [item for item in document["yodas"] if item["state"] == presence.LIVE]
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print("\n".join(_table(document["yodas"])))
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, who, argv)
