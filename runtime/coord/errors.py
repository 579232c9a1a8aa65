"""Exceptions that carry the exit code a command ends with."""

# Exit codes shared by every coord command (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_COLLISION = 3


class CoordError(Exception):
    """A failure to report as one line on stderr, without a traceback."""

    exit_code = EXIT_ERROR


class UsageError(CoordError):
    """The command line or an input value is not acceptable."""

    exit_code = EXIT_USAGE


class CollisionRefused(CoordError):
    """A claim was refused because it overlaps with someone else's work."""

    exit_code = EXIT_COLLISION
