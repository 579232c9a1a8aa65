"""coord-claim: say what I am working on, after checking nobody else is."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from coord import pokes
from coord.claims import (
    Claim,
    LogEvent,
    check_note,
    check_path_glob,
    check_topic,
    new_event_id,
    parse_ttl,
)
from coord.cli import common
from coord.config import Config
from coord.errors import CollisionRefused
from coord.scan import Match, claim_matches, commit_matches, default_since
from coord.state import Change, State
from coord.textline import duration, escape

NAME = "claim"


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Claim a topic for TTL minutes. First scan other Yodas' active claims and\n"
        "recent commits by others for the same keywords or paths; on a match, ask\n"
        "(on a terminal) or refuse with exit code 3. Claiming a topic I already\n"
        "hold renews it.",
    )
    parser.add_argument("topic", help="what I am working on, in a few words")
    parser.add_argument("ttl", metavar="ttl-min", help="minutes until the claim expires (1-10080)")
    parser.add_argument(
        "--paths", nargs="+", default=[], metavar="GLOB", help="repository paths I will change"
    )
    parser.add_argument("--note", default="", help="free text stored with the claim")
    parser.add_argument(
        "--force", action="store_true", help="claim even on a collision (or COORD_FORCE=1)"
    )
    return parser


def _report(matches: list[Match], now: datetime) -> None:
    print(f"coord-{NAME}: this topic may already be taken:", file=sys.stderr)
    for match in matches:
        age = duration((now - match.when).total_seconds())
        print(
            f"  {match.who}: {escape(match.what)[:120]}, {age} ago ({match.why})", file=sys.stderr
        )


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input("Claim anyway? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def claim(args: argparse.Namespace, config: Config) -> int:
    topic = check_topic(args.topic)
    ttl = parse_ttl(args.ttl)
    paths = tuple(check_path_glob(glob) for glob in args.paths)
    note = check_note(args.note)

    state = State(config)
    state.refresh()
    for warning in state.take_warnings():
        common.warn(NAME, warning)

    now = config.now()
    others = [
        claim
        for claim_file in state.claim_files()
        if claim_file.yoda != config.yoda_id
        for claim in claim_file.claims
    ]
    matches = claim_matches(topic, paths, others, now)
    matches += commit_matches(
        state.repo,
        topic,
        paths,
        config.yoda_id,
        config.coord_dir,
        default_since(now, config.scan_hours),
    )
    if matches and not (args.force or config.force):
        _report(matches, now)
        if not _confirmed():
            raise CollisionRefused("claim refused; use --force or COORD_FORCE=1 to claim anyway")

    new = Claim(config.yoda_id, topic, ttl, now, config.host, paths, note)
    event = LogEvent(now, config.yoda_id, "CLAIM", new_event_id(), topic)
    subject = topic.splitlines()[0][:60] if topic.strip() else "topic"

    def plan(held: list[Claim]) -> Change:
        # Claiming a topic I hold already renews it.
        kept = [claim for claim in held if claim.topic != topic]
        return Change(kept + [new], [event], f"claim: {subject}")

    outcome = state.change(plan)
    for warning in outcome.warnings:
        common.warn(NAME, warning)
    # Tell the hub at once, so other hosts' mirrors sync now, not at their next timer.
    told = pokes.send_best_effort(config, "CLAIM", [pokes.commit_text(outcome.commit, topic)])
    if told:
        common.warn(NAME, told)
    print(f"claimed {escape(topic)[:80]!s} for {ttl} min ({outcome.commit[:10]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, claim, argv)
