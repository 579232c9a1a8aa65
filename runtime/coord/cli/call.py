"""coord-call: start a roll-call and wait until enough Yodas answer."""

from __future__ import annotations

import argparse
import time

from coord import hub, pokes, rollcall
from coord.claims import LogEvent, check_topic
from coord.cli import common
from coord.config import Config, format_time
from coord.errors import UsageError
from coord.state import Change, State
from coord.textline import escape

NAME = "call"
EXIT_TIMEOUT = 2
EPILOG = (
    "exit codes: 0 enough Yodas answered (or --expect 0), 1 error (the hub cannot be\n"
    "reached, for one), 2 the deadline passed first, or a usage error"
)


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Post a CALL poke with a new call id (printed first) and log it in the state\n"
        "clone's log.md, then wait until N other Yodas have answered with coord-checkin,\n"
        "printing each answer; at the deadline, give up. --expect 0 only broadcasts.",
        EPILOG,
    )
    parser.add_argument("topic", help="what the roll-call is about")
    parser.add_argument(
        "--expect",
        type=int,
        required=True,
        metavar="N",
        help="answers from other Yodas to wait for (0: do not wait)",
    )
    parser.add_argument(
        "--timeout",
        default="10m",
        help="how long to wait: 90s, 10m, 1h (a bare number is seconds; default 10m)",
    )
    return parser


def call(args: argparse.Namespace, config: Config) -> int:
    topic = check_topic(args.topic)
    if not 0 <= args.expect <= rollcall.EXPECT_MAX:
        raise UsageError(f"--expect must be from 0 to {rollcall.EXPECT_MAX}, not {args.expect}")
    seconds = rollcall.parse_duration(args.timeout)
    state = State(config)  # before anything is sent: no call without its log line

    now = config.now()
    deadline = rollcall.deadline_after(now, seconds)
    call_id = rollcall.new_call_id()
    text = rollcall.format_call_text(call_id, args.expect, deadline, topic)
    position = pokes.send(config, "CALL", [text])
    waiting = time.monotonic() + (deadline - now).total_seconds()
    print(f"call {call_id}: {escape(topic)[:80]}", flush=True)

    subject = topic.splitlines()[0][:60] if topic.strip() else "roll-call"
    event = LogEvent(now, config.yoda_id, "CALL", call_id, text)
    outcome = state.change(lambda held: Change(None, [event], f"call: {subject}"))
    for warning in outcome.warnings:
        common.warn(NAME, warning)
    if args.expect == 0:
        print("broadcast; not waiting for answers")
        return 0

    print(
        f"waiting for {args.expect} answer(s) until {format_time(deadline)}"
        f" (coord-checkin {call_id} NOTE)",
        flush=True,
    )
    answered: dict[str, str] = {}
    follower = hub.Follower(
        config,
        offset=position.offset,
        log_id=position.log_id,
        warn=lambda message: common.warn(NAME, message),
    )
    for batch in follower.batches(deadline=waiting):
        for line in batch.lines:
            poke = pokes.parse_poke(line.decode("utf-8", errors="replace"))
            checkin = rollcall.checkin_of(poke) if poke is not None else None
            if checkin is None or checkin.call_id != call_id or checkin.yoda == config.yoda_id:
                continue
            if checkin.yoda not in answered:
                note = f": {escape(checkin.note)[:200]}" if checkin.note else ""
                print(f"  {checkin.yoda} checked in{note}", flush=True)
            answered[checkin.yoda] = checkin.note
        if len(answered) >= args.expect:
            break

    names = ", ".join(answered) or "nobody"
    if len(answered) >= args.expect:
        print(f"quorum: {len(answered)} of {args.expect} answered ({names})")
        return 0
    print(f"timed out: {len(answered)} of {args.expect} answered ({names})")
    return EXIT_TIMEOUT


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, call, argv)
