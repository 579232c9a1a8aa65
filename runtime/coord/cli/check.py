"""coord-check: a read-only survey of every Yoda's claims."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from coord import presence
from coord.claims import Claim, read_claim_dir
from coord.cli import common
from coord.config import Config, format_time
from coord.gitrepo import open_clone
from coord.textline import duration, escape

NAME = "check"
JSON_VERSION = 1


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "List every claim in the state clone: owner, topic, paths, age and TTL.\n"
        "[expired] marks a claim past its TTL, [stale] one past twice its TTL,\n"
        "[holder dead] one whose holder's heartbeats stopped (it may be taken over).\n"
        "Reads local files only; coord-sync keeps them current.",
    )
    parser.add_argument("--mine", action="store_true", help="only my own claims")
    parser.add_argument("--json", action="store_true", help="print the documented JSON shape")
    return parser


def claim_record(claim: Claim, now: datetime, me: str) -> dict:
    return {
        "yoda": claim.yoda,
        "topic": claim.topic,
        "paths": list(claim.paths),
        "ttl_minutes": claim.ttl_minutes,
        "claimed_at": format_time(claim.claimed_at),
        "expires_at": format_time(claim.expires_at()),
        "age_seconds": int(claim.age_seconds(now)),
        "host": claim.host,
        "note": claim.note,
        "mine": claim.yoda == me,
        "expired": claim.is_expired(now),
        "stale": claim.is_stale(now),
    }


def survey(config: Config, mine_only: bool = False) -> dict:
    """Everything coord-check shows, as the JSON document it prints."""
    open_clone(config.state)
    now = config.now()
    claims, unreadable = [], []
    for claim_file in read_claim_dir(config.state / config.coord_dir / "claims"):
        if mine_only and claim_file.yoda != config.yoda_id:
            continue
        if claim_file.error:
            unreadable.append(
                {"yoda": claim_file.yoda, "file": str(claim_file.path), "error": claim_file.error}
            )
        claims += [claim_record(claim, now, config.yoda_id) for claim in claim_file.claims]
    # Whether each holder is alive, from the mirror's presence snapshot (local,
    # never the network): a DEAD holder's claim may be taken over.
    states = presence.local_states(config, now)
    for record in claims:
        record["presence"] = states.get(record["yoda"])
        record["holder_dead"] = record["presence"] == presence.DEAD
    claims.sort(key=lambda record: (record["claimed_at"], record["yoda"]))
    return {
        "version": JSON_VERSION,
        "now": format_time(now),
        "yoda_id": config.yoda_id,
        "claims": claims,
        "unreadable": unreadable,
    }


def _table(document: dict) -> list[str]:
    rows = []
    for record in document["claims"]:
        marks = " [stale]" if record["stale"] else " [expired]" if record["expired"] else ""
        if record.get("holder_dead"):
            marks += " [holder dead]"
        paths = ", ".join(escape(path) for path in record["paths"]) or "-"
        topic = escape(record["topic"])
        if len(topic) > 60:
            topic = topic[:57] + "..."
        age = duration(record["age_seconds"])
        rows.append((record["yoda"], topic, paths, f"{age} of {record['ttl_minutes']} min" + marks))
    lines = []
    if rows:
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        for row in rows:
            lines.append(
                "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3]
            )
    for entry in document["unreadable"]:
        lines.append(f"{entry['yoda']}: {entry['file']} is {entry['error']}")
    return lines or ["no claims"]


def check(args: argparse.Namespace, config: Config) -> int:
    document = survey(config, args.mine)
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print("\n".join(_table(document)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, check, argv)
