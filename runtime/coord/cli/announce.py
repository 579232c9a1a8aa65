"""coord-announce: send a poke to every Yoda through the hub."""

from __future__ import annotations

import argparse

from coord import hub, pokes
from coord.cli import common
from coord.config import Config
from coord.errors import UsageError

NAME = "announce"
EPILOG = (
    "exit codes: 0 sent, or the hub could not be reached (a warning says so: pokes are\n"
    "best effort); 1 the hub answered with an error; 2 usage error"
)


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Append a POKE to the hub's poke log: every coord-watch prints it and every\n"
        "host's mirror keeps it. Words are joined with single spaces; the text travels\n"
        "verbatim (quotes, newlines, any language), at most 20,000 characters.\n"
        "When the hub cannot be reached this warns and exits 0 within a few seconds.",
        EPILOG,
    )
    parser.add_argument("message", nargs="+", help="what to tell everyone")
    return parser


def announce(args: argparse.Namespace, config: Config) -> int:
    text = " ".join(args.message)
    if not text.strip():
        raise UsageError("the message is empty")
    try:
        pokes.send(config, "POKE", [text])
    except hub.HubUnreachable as error:
        common.warn(NAME, f"not sent: {error}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, announce, argv)
