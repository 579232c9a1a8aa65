"""What every command shares: argument parsing, error reporting, exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from coord import __version__, config
from coord.errors import CoordError

EPILOG = "exit codes: 0 done, 1 error, 2 usage error, 3 refused because of a collision"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that names the command."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}; see '{self.prog} --help'\n")


def parser(name: str, description: str, epilog: str = EPILOG) -> argparse.ArgumentParser:
    result = _Parser(
        prog=f"coord-{name}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("--version", action="version", version=f"coord {__version__}")
    return result


def warn(name: str, message: str) -> None:
    print(f"coord-{name}: warning: {message}", file=sys.stderr)


def run(
    name: str,
    build_parser: Callable[[], argparse.ArgumentParser],
    action: Callable[[argparse.Namespace, config.Config], int],
    argv: list[str] | None,
) -> int:
    """Parse *argv*, load the configuration and run *action*, mapping failures to exit codes."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 2
    try:
        return action(args, config.load())
    except CoordError as error:
        print(f"coord-{name}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"coord-{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (coord-check | head): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
