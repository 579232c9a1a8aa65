"""coord-watch: follow the hub's pokes; --mirror keeps this host's copy of them."""

from __future__ import annotations

import argparse
import signal
import sys
import unicodedata

from coord import hub, pokes, presence, rollcall
from coord.cli import common
from coord.config import Config
from coord.errors import CoordError, UsageError
from coord.pokes import Poke
from coord.state import State
from coord.textline import escape

NAME = "watch"
EPILOG = (
    "exit codes: 0 done (or stopped by SIGTERM), 1 error (the hub cannot be reached\n"
    "when watching starts, for one; --mirror retries instead), 2 usage error"
)
# Pokes that change the durable bus: the mirror syncs the state clone on them.
SYNC_KINDS = ("CLAIM", "RELEASE")


class _Stopped(Exception):
    """SIGTERM arrived: stop following and exit cleanly."""


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Print the last N pokes, then each new one as it arrives (heartbeats hidden\n"
        "unless --heartbeats). Times are local. If the link to the hub drops, it\n"
        "reconnects and resumes where it stopped.\n"
        "\n"
        "--mirror runs unattended instead (a service): it appends every line of the\n"
        "hub's poke.log to <local state>/mirror/poke.log, resuming after a restart or\n"
        "a lost link without losing or repeating a line; keeps the latest heartbeat\n"
        "of every Yoda in <local state>/mirror/presence.json; and syncs the state\n"
        "clone as soon as another Yoda's CLAIM or RELEASE poke arrives.",
        EPILOG,
    )
    parser.add_argument(
        "-n", "--lines", type=int, default=10, metavar="N", help="pokes shown first (10)"
    )
    parser.add_argument("--no-follow", action="store_true", help="print the last N pokes and exit")
    parser.add_argument(
        "--raw", action="store_true", help="print the log's lines exactly as stored"
    )
    parser.add_argument("--heartbeats", action="store_true", help="show HB pokes too")
    parser.add_argument(
        "--mirror", action="store_true", help="keep this host's mirror (unattended)"
    )
    parser.add_argument(
        "--retry-max",
        type=float,
        default=hub.RETRY_MAX,
        metavar="SECONDS",
        help=f"longest pause between reconnections ({hub.RETRY_MAX:.0f})",
    )
    return parser


def _visible(text: str) -> str:
    """Text as typed, except control characters (a terminal would obey them): escaped.

    Newlines and tabs stay; every other control or line separator character
    is shown as a backslash escape.
    """
    return "".join(
        char
        if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Zl", "Zp")
        else escape(char)
        for char in text
    )


def describe(poke: Poke) -> str:
    """What a poke says, in words."""
    text = poke.text
    if poke.kind == "POKE":
        return f"{poke.yoda}: {text}"
    if poke.kind in presence.HEARTBEAT_KINDS:
        record = presence.from_poke(poke)
        if record is None:
            return f"{poke.yoda} {poke.kind} {text}"
        if record.left:
            return f"{poke.yoda} left ({record.host})"
        doing = "; ".join(record.doing) or "idle"
        return f"{poke.yoda} is alive on {record.host}: {doing}"
    if poke.kind in SYNC_KINDS:
        commit, topic = pokes.parse_commit_text(text)
        verb = "claimed" if poke.kind == "CLAIM" else "released"
        return f"{poke.yoda} {verb}: {topic} [{commit[:10]}]"
    call = rollcall.call_of(poke)
    if call is not None:
        deadline = call.deadline.astimezone().strftime("%H:%M:%S")
        return (
            f"{poke.yoda} calls the roll {call.call_id}, {call.expect} answer(s) by"
            f" {deadline}: {call.topic}  (answer: coord-checkin {call.call_id} NOTE)"
        )
    checkin = rollcall.checkin_of(poke)
    if checkin is not None:
        note = f": {checkin.note}" if checkin.note else ""
        return f"{poke.yoda} checked in to {checkin.call_id}{note}"
    return f"{poke.yoda} {poke.kind} {text}"


def render(poke: Poke) -> str:
    """One poke for a person: local time, then the words; later lines indented."""
    stamp = poke.time.astimezone().strftime("%m-%d %H:%M:%S")
    indent = "\n" + " " * (len(stamp) + 1)
    return stamp + " " + _visible(describe(poke)).replace("\n", indent)


def _show(line: bytes, args: argparse.Namespace) -> None:
    text = line.decode("utf-8", errors="replace")
    poke = pokes.parse_poke(text)
    if poke is None:
        return
    if poke.kind == "HB" and not args.heartbeats:
        return
    print(text.rstrip("\n") if args.raw else render(poke), flush=True)


def _warn(message: str) -> None:
    common.warn(NAME, message)


def _sync(config: Config) -> None:
    try:
        outcome = State(config).sync()
    except CoordError as error:
        _warn(f"sync after a claim poke failed: {error}")
        return
    for warning in outcome.warnings:
        _warn(warning)


def keep_mirror(args: argparse.Namespace, config: Config) -> int:
    mirror = pokes.Mirror(config)
    mirror.open()
    try:
        records = presence.read_local(config)
        if not records and mirror.size:
            # The snapshot was lost: rebuild it from the mirror, once.
            if presence.take_in(records, pokes.read_pokes(mirror.path)):
                presence.write_local(config, records)
        follower = hub.Follower(
            config,
            offset=mirror.offset,
            log_id=mirror.log_id,
            persistent=True,
            retry_max=args.retry_max,
            warn=_warn,
        )
        for batch in follower.batches():
            try:
                found = mirror.append(batch)
                if presence.take_in(records, found):
                    presence.write_local(config, records)
            except OSError as error:
                # A full or read-only disk: stop, to be restarted by the service
                # manager; the mirror's torn end is repaired on the next start.
                raise CoordError(f"cannot write the mirror in {mirror.folder}: {error}") from None
            if any(p.kind in SYNC_KINDS and p.yoda != config.yoda_id for p in found):
                _sync(config)
    finally:
        mirror.close()
    return 0


def watch(args: argparse.Namespace, config: Config) -> int:
    if args.lines < 0:
        raise UsageError("-n must be 0 or more")
    if args.retry_max <= 0:
        raise UsageError("--retry-max must be above 0")
    if hasattr(sys.stdout, "reconfigure"):
        # Text given as undecodable bytes comes back as the same bytes.
        sys.stdout.reconfigure(errors="surrogateescape")

    def stop(signum, frame):
        raise _Stopped

    signal.signal(signal.SIGTERM, stop)
    try:
        if args.mirror:
            return keep_mirror(args, config)
        if args.no_follow:
            for line in hub.tail(config, args.lines, skip_heartbeats=not args.heartbeats):
                _show(line, args)
            return 0
        follower = hub.Follower(
            config,
            back_lines=args.lines,
            skip_heartbeats=not args.heartbeats,
            retry_max=args.retry_max,
            warn=_warn,
        )
        for batch in follower.batches():
            for line in batch.lines:
                _show(line, args)
    except _Stopped:
        return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, watch, argv)
