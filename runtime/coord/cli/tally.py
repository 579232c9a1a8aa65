"""coord-tally: who answered which roll-call."""

from __future__ import annotations

import argparse
import json

from coord import rollcall
from coord.cli import common
from coord.config import Config, format_time
from coord.errors import CoordError, UsageError
from coord.textline import escape

NAME = "tally"
JSON_VERSION = 1
EPILOG = "exit codes: 0 done, 1 error (no such call, the hub unreachable), 2 usage error"


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Show the attendance of a roll-call: who answered, when, with which note.\n"
        "Without arguments, the newest call; with a call id, that one; --open, every\n"
        "call whose deadline has not passed; --all, every call. Status: quorum (enough\n"
        "answers), open (waiting, before the deadline) or closed (deadline passed).",
        EPILOG,
    )
    parser.add_argument("call_id", nargs="?", metavar="CALL-ID", help="the call to show")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--open", action="store_true", help="calls still before their deadline")
    which.add_argument("--all", action="store_true", help="every call")
    parser.add_argument("--json", action="store_true", help="print the documented JSON shape")
    return parser


def record(entry: rollcall.Attendance, now) -> dict:
    call = entry.call
    return {
        "call_id": call.call_id,
        "yoda": call.yoda,
        "time": format_time(call.time),
        "expect": call.expect,
        "deadline": format_time(call.deadline),
        "topic": call.topic,
        "status": entry.status(now),
        "answered": [
            {
                "yoda": answer.yoda,
                "time": format_time(answer.time),
                "note": answer.note,
                "late": answer.time > call.deadline,
            }
            for answer in entry.others()
        ],
    }


def _lines(document: dict) -> list[str]:
    if not document["calls"]:
        return ["no roll-calls"]
    lines = []
    for call in document["calls"]:
        lines.append(
            f"call {call['call_id']} by {call['yoda']}: {escape(call['topic'])[:80]}"
            f"  {len(call['answered'])} of {call['expect']} answered, {call['status']}"
            f" (deadline {call['deadline']})"
        )
        for answer in call["answered"]:
            late = " (late)" if answer["late"] else ""
            note = f"  {escape(answer['note'])[:100]}" if answer["note"] else ""
            lines.append(f"  {answer['yoda']}  {answer['time']}{late}{note}")
    return lines


def tally(args: argparse.Namespace, config: Config) -> int:
    if args.call_id is not None:
        rollcall.check_call_id(args.call_id)
        if args.open or args.all:
            raise UsageError("give a call id, or --open, or --all")
    calls = rollcall.fetch(config)
    now = config.now()
    if args.call_id is not None:
        chosen = [entry for entry in calls if entry.call.call_id == args.call_id]
        if not chosen:
            raise CoordError(f"no roll-call {args.call_id} on the hub; see coord-tally --all")
    elif args.open:
        chosen = [entry for entry in calls if now < entry.call.deadline]
    elif args.all:
        chosen = calls
    else:
        chosen = calls[-1:]
    document = {
        "version": JSON_VERSION,
        "now": format_time(now),
        "calls": [record(entry, now) for entry in chosen],
    }
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print("\n".join(_lines(document)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, tally, argv)
