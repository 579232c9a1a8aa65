"""coord-checkin: answer a roll-call."""

from __future__ import annotations

import argparse

from coord import pokes, rollcall
from coord.claims import check_note
from coord.cli import common
from coord.config import Config, format_time
from coord.errors import CoordError, UsageError
from coord.textline import escape

NAME = "checkin"
EPILOG = "exit codes: 0 answered, 1 error (no such call, the hub unreachable), 2 usage error"


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Answer a roll-call with a CHECKIN poke and an optional note:\n"
        "  coord-checkin CALL-ID [NOTE]\n"
        "  coord-checkin --latest [NOTE]   the newest call made by another Yoda",
        EPILOG,
    )
    parser.add_argument("words", nargs="*", metavar="CALL-ID [NOTE]", help="the call and a note")
    parser.add_argument("--latest", action="store_true", help="answer the newest call")
    return parser


def checkin(args: argparse.Namespace, config: Config) -> int:
    words = list(args.words)
    if args.latest:
        if len(words) > 1:
            raise UsageError("with --latest, give at most a note (quote it)")
        call_id, note = None, (words[0] if words else "")
    else:
        if not words:
            raise UsageError("name the call id, or use --latest")
        if len(words) > 2:
            raise UsageError("give the call id and at most one note (quote it)")
        call_id, note = rollcall.check_call_id(words[0]), (words[1] if len(words) > 1 else "")
    note = check_note(note)

    calls = rollcall.fetch(config)
    if call_id is None:
        others = [entry for entry in calls if entry.call.yoda != config.yoda_id]
        if not others:
            raise CoordError("no roll-call by another Yoda on the hub")
        target = others[-1].call
    else:
        matching = [entry.call for entry in calls if entry.call.call_id == call_id]
        if not matching:
            raise CoordError(f"no roll-call {call_id} on the hub; see coord-tally --all")
        target = matching[0]
    if target.yoda == config.yoda_id:
        raise CoordError(f"{target.call_id} is my own call: only other Yodas' answers count")

    if config.now() >= target.deadline:
        common.warn(
            NAME, f"call {target.call_id} closed at {format_time(target.deadline)}; answering late"
        )
    pokes.send(config, "CHECKIN", [rollcall.format_checkin_text(target.call_id, note)])
    print(f"checked in to {target.call_id} ({target.yoda}: {escape(target.topic)[:80]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, checkin, argv)
