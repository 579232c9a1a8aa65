"""coord-release: close my claim(s) and log it."""

from __future__ import annotations

import argparse

from coord import pokes
from coord.claims import Claim, LogEvent, check_note, new_event_id
from coord.cli import common
from coord.config import Config
from coord.errors import CoordError, UsageError
from coord.state import Change, State
from coord.textline import escape

NAME = "release"


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Close my claim and log it. With one claim held, that one; with several,\n"
        "name it with --topic or close them all with --all.",
    )
    parser.add_argument("note", nargs="?", default="", help="what became of the work")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--topic", help="the topic of the claim to close, as claimed")
    which.add_argument("--all", action="store_true", help="close every claim I hold")
    return parser


def _closing(held: list[Claim], args: argparse.Namespace) -> list[Claim]:
    """The claims this release closes, out of those I hold."""
    if args.all:
        return held
    if args.topic is not None:
        closing = [claim for claim in held if claim.topic == args.topic]
        if not closing:
            raise CoordError(
                f"I hold no claim on {escape(args.topic)[:80]!r}; see coord-check --mine"
            )
        return closing
    if len(held) > 1:
        raise UsageError(f"I hold {len(held)} claims; name one with --topic, or use --all")
    return held


def release(args: argparse.Namespace, config: Config) -> int:
    note = check_note(args.note)
    state = State(config)
    now = config.now()
    suffix = f" (note: {note})" if note else ""
    closing: list[Claim] = []

    def plan(held: list[Claim]) -> Change | None:
        closing.extend(_closing(held, args))
        if not closing:
            return None
        events = [
            LogEvent(now, config.yoda_id, "RELEASE", new_event_id(), claim.topic + suffix)
            for claim in closing
        ]
        keep = [claim for claim in held if claim not in closing]
        subject = (
            closing[0].topic.splitlines()[0][:60] if len(closing) == 1 else f"{len(closing)} claims"
        )
        return Change(keep, events, f"release: {subject}")

    outcome = state.change(plan)
    if outcome is None:
        print("no claim to release")
        return 0
    for warning in outcome.warnings:
        common.warn(NAME, warning)
    # Tell the hub at once, so other hosts' mirrors sync now, not at their next timer.
    texts = [pokes.commit_text(outcome.commit, claim.topic + suffix) for claim in closing]
    told = pokes.send_best_effort(config, "RELEASE", texts)
    if told:
        common.warn(NAME, told)
    for claim in closing:
        print(f"released {escape(claim.topic)[:80]} ({outcome.commit[:10]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, release, argv)
