"""coord-sync: the every-minute job that keeps the state clone in step."""

from __future__ import annotations

import argparse

from coord.cli import common
from coord.config import Config
from coord.state import State

NAME = "sync"


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Fetch the coordination repository, rebase local commits onto it and push\n"
        "what has not reached it. Quiet when there is nothing to do; when the remote\n"
        "cannot be reached it warns and keeps everything for the next run.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="say what was pushed")
    return parser


def sync(args: argparse.Namespace, config: Config) -> int:
    outcome = State(config).sync()
    for warning in outcome.warnings:
        common.warn(NAME, warning)
    if outcome.pushed and args.verbose:
        print("pushed local commits")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, sync, argv)
