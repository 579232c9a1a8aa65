"""coord-heartbeat: tell the hub this Yoda is alive and what it is doing."""

from __future__ import annotations

import argparse
import os

from coord import hub, pokes, presence
from coord.cli import common
from coord.config import Config
from coord.errors import CoordError
from coord.state import State

NAME = "heartbeat"
EPILOG = (
    "exit codes: 0 sent, or the hub could not be reached (a warning says so); 1 the hub\n"
    "answered with an error; 2 usage error"
)


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Send one heartbeat to the hub (run every minute by a timer): an HB poke naming\n"
        "this host and the topics of my active claims (idle when none), which also\n"
        "becomes my record for coord-who. With --left, a LEFT poke instead: I left\n"
        "cleanly, so coord-who shows LEFT rather than DEAD. One ssh call, bounded in\n"
        "time. After a delivery, the line is kept in <local state>/heartbeat.\n"
        "A plain heartbeat also beats for this machine's Claude Code sessions that\n"
        "are still open (registered by their SessionStart hook), one call each.",
        EPILOG,
    )
    parser.add_argument("--left", action="store_true", help="say that this Yoda left cleanly")
    return parser


def doing(config: Config) -> list[str]:
    """Topics of my claims that have not expired; none without a state clone."""
    try:
        held = State(config).my_claims()
    except CoordError:
        return []
    now = config.now()
    return [claim.topic for claim in held if not claim.is_expired(now)]


def stamp_path(config: Config):
    return config.local_state / "heartbeat"


def _beat(config: Config, kind: str) -> bytes:
    """Send one heartbeat of *kind* for ``config.yoda_id``; the line that was sent."""
    topics = doing(config) if kind == "HB" else []
    poke = pokes.new_poke(config, kind, presence.heartbeat_text(config.host, topics))
    line = pokes.encode([poke])
    hub.heartbeat(config, config.yoda_id, line)
    return line


def heartbeat(args: argparse.Namespace, config: Config) -> int:
    sessions = [] if args.left else presence.live_sessions(config)
    try:
        line = _beat(config, "LEFT" if args.left else "HB")
        # This machine speaks for its Claude Code sessions that are open but
        # idle; a session's own heartbeat (its id is among them) does not.
        if config.yoda_id not in sessions:
            for session in sessions:
                _beat(config._replace(yoda_id=session), "HB")
    except hub.HubUnreachable as error:
        common.warn(NAME, f"not sent: {error}")
        return 0
    stamp = stamp_path(config)
    try:
        stamp.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
        temporary.write_bytes(line)
        os.replace(temporary, stamp)
    except OSError as error:
        raise CoordError(f"sent, but cannot write {stamp}: {error}") from None
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, heartbeat, argv)
