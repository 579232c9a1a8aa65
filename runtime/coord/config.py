"""Who this Yoda is, and where its state lives.

Every setting comes from, in order of precedence: an environment variable, the
INI file ``~/.config/coord/config`` (section ``[coord]``), then a default. In
the file a key is the variable's name in lower case without ``COORD_``:
``COORD_STATE`` is ``state``, ``YODA_ID`` is ``yoda_id``.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from coord.errors import UsageError
from coord.record import record

ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
ID_MAX_LENGTH = 64


def validate_id(value: str, what: str = "Yoda id") -> str:
    """Return *value* if it is safe to use as a file name, or raise UsageError.

    Ids become file names (``claims/<id>.md``) and ssh-side record names, so
    only letters, digits, ``.``, ``_`` and ``-`` are allowed, not first a dot
    or a dash (hidden files, options), and at most 64 characters.
    """
    if not value:
        raise UsageError(f"{what} is empty")
    if len(value) > ID_MAX_LENGTH:
        raise UsageError(f"{what} is {len(value)} characters long; at most {ID_MAX_LENGTH}")
    if not ID_PATTERN.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not allowed: use letters, digits, '.', '_' and '-',"
            " starting with a letter, digit or '_'"
        )
    return value


def config_path(environ: Mapping[str, str]) -> Path:
    """The configuration file: ``COORD_CONFIG``, else ``$XDG_CONFIG_HOME/coord/config``."""
    home = Path(environ.get("HOME") or Path.home())
    config_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    return Path(environ.get("COORD_CONFIG") or config_home / "coord" / "config")


def file_settings(path: Path) -> dict[str, str]:
    """The ``[coord]`` section of the file at *path*; empty when there is no file."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    if not parser.has_section("coord"):
        return {}
    return dict(parser.items("coord"))


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise UsageError(f"{name} must be 1 or 0, not {value!r}")


def _parse_number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number, not {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise UsageError(f"{name} must be a positive number, not {value!r}")
    return number


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time written by coord (UTC, ``Z`` or an offset)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """Write a time the way every coord file stores it: UTC to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_id() -> str:
    short = os.uname().nodename.split(".")[0]
    if short and ID_PATTERN.fullmatch(short) and len(short) <= ID_MAX_LENGTH:
        return short
    return f"yoda-{os.getpid()}"


@record
class Config:
    yoda_id: str
    host: str
    state: Path
    branch: str | None
    coord_dir: str
    force: bool
    scan_hours: float
    hub: str
    hub_dir: str
    ssh: tuple[str, ...]
    live_seconds: float
    stale_seconds: float
    local_state: Path
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        return self.clock()


def load(
    environ: Mapping[str, str] | None = None, from_file: Mapping[str, str] | None = None
) -> Config:
    """Build the configuration from the environment and the config file.

    *from_file* is the file's ``[coord]`` section when the caller has read it
    already (the hooks do, to derive a session's id); otherwise it is read here.
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    if from_file is None:
        from_file = file_settings(config_path(env))

    def setting(env_name: str, default: str = "") -> str:
        if env_name in env:
            return env[env_name]
        key = env_name.lower()
        key = key[len("coord_") :] if key.startswith("coord_") else key
        return from_file.get(key, default)

    if "YODA_ID" in env or "yoda_id" in from_file:
        yoda_id = validate_id(setting("YODA_ID"), "YODA_ID")
    else:
        yoda_id = _default_id()

    coord_dir = setting("COORD_DIR", "coordination").strip("/") or "."
    if any(part in ("..", "") for part in coord_dir.split("/")) or coord_dir.startswith("/"):
        raise UsageError(f"COORD_DIR must be a folder inside the state clone, not {coord_dir!r}")

    data_home = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    state_home = Path(env.get("XDG_STATE_HOME") or home / ".local" / "state")
    ssh_words = tuple(shlex.split(setting("COORD_SSH", "ssh")))
    if not ssh_words:
        raise UsageError("COORD_SSH is empty")

    fixed_now = setting("COORD_NOW")
    if fixed_now:
        # A frozen clock for tests and demonstrations: every command run with
        # COORD_NOW set believes it is that moment.
        try:
            frozen = parse_time(fixed_now)
        except ValueError:
            raise UsageError(f"COORD_NOW must be an ISO 8601 time, not {fixed_now!r}") from None
        clock: Callable[[], datetime] = lambda: frozen  # noqa: E731
    else:
        clock = lambda: datetime.now(timezone.utc)  # noqa: E731

    live = _parse_number("COORD_LIVE_SECONDS", setting("COORD_LIVE_SECONDS", "90"))
    stale = _parse_number("COORD_STALE_SECONDS", setting("COORD_STALE_SECONDS", "180"))
    if stale < live:
        raise UsageError("COORD_STALE_SECONDS must not be below COORD_LIVE_SECONDS")

    return Config(
        yoda_id=yoda_id,
        host=os.uname().nodename.split(".")[0] or "unknown",
        state=Path(setting("COORD_STATE") or data_home / "coord" / "state").expanduser(),
        branch=setting("COORD_BRANCH") or None,
        coord_dir=coord_dir,
        force=_parse_bool("COORD_FORCE", setting("COORD_FORCE", "0")),
        scan_hours=_parse_number("COORD_SCAN_HOURS", setting("COORD_SCAN_HOURS", "24")),
        hub=setting("COORD_HUB", "zeus"),
        hub_dir=setting("COORD_HUB_DIR", "~/coord"),
        ssh=ssh_words,
        live_seconds=live,
        stale_seconds=stale,
        local_state=Path(setting("COORD_LOCAL_STATE") or state_home / "coord").expanduser(),
        clock=clock,
    )
