"""The command line: ``coord <name>`` and the ``coord-<name>`` programs.

Each command is a module of this package with ``build_parser()`` and
``main(argv=None) -> int``; this module only finds the right one.
"""

from __future__ import annotations

import importlib
import os
import sys

from coord import __version__

# name -> one-line summary; the module is coord.cli.<name>.
COMMANDS = {
    "claim": "claim a topic (and paths) after a collision scan",
    "release": "close my claim(s)",
    "check": "survey every Yoda's claims",
    "sync": "fetch, rebase and push the state clone (run every minute)",
    "announce": "send a poke to every Yoda through the hub",
    "watch": "follow the hub's pokes; --mirror keeps a local copy",
    "heartbeat": "tell the hub this Yoda is alive and what it is doing",
    "who": "list every Yoda with its last heartbeat",
    "call": "start a roll-call and wait for answers",
    "checkin": "answer a roll-call",
    "tally": "show who answered roll-calls",
    "hooks": "register or remove the Claude Code hooks",
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: coord <command> [arguments]",
        "       coord-<command> [arguments]",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items()]
    lines += ["", "Run 'coord <command> --help' for a command's options."]
    return "\n".join(lines)


def run_named(name: str, argv: list[str] | None = None) -> int:
    if name not in COMMANDS:
        print(f"coord: unknown command {name!r}; see 'coord --help'", file=sys.stderr)
        return 2
    module = importlib.import_module(f"coord.cli.{name}")
    return module.main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coord`` program and of every ``coord-*`` link to it."""
    args = sys.argv[1:] if argv is None else argv
    program = os.path.basename(sys.argv[0]) if argv is None else "coord"
    if program.startswith("coord-"):
        return run_named(program[len("coord-") :], args)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        print(f"coord {__version__}")
        return 0
    return run_named(args[0], args[1:])
