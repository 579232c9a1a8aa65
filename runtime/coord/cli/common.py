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


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, given the terminal's width directly.

    Left to itself it asks shutil, and importing shutil (with bz2 and lzma)
    costs every command a few milliseconds, help or not: argparse builds a
    formatter for each argument it adds.
    """

    def __init__(self, prog: str, **kwargs):
        if kwargs.get("width") is None:
            kwargs["width"] = _columns() - 2
        super().__init__(prog, **kwargs)


def _columns() -> int:
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 80


def parser(name: str, description: str, epilog: str = EPILOG) -> argparse.ArgumentParser:
    result = _Parser(
        prog=f"coord-{name}",
        description=description,
        epilog=epilog,
        formatter_class=_Formatter,
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
    # Text a user typed with bytes that are not UTF-8 is carried as lone
    # surrogates and stored verbatim; printing it gives the same bytes back
    # instead of failing on a strict UTF-8 terminal.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
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
    except OSError as error:
        # The file system refused (disk full, a folder that cannot be made):
        # one line, like every other failure.
        print(f"coord-{name}: {error}", file=sys.stderr)
        return 1
