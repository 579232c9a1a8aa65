"""Claude Code: which Yoda a session is, and coord's entries in its settings.json.

Two things live here, both plain data work without any network:

* **Session identity.** Several Claude Code sessions on one machine must not
  share a Yoda id, so a session that was not given one of its own gets
  ``<base>-<6 hex digits>``: the machine's configured id (or its short host
  name) and the start of the SHA-256 of Claude Code's ``session_id``. The same
  session always gets the same id, from every hook. The rule is described in
  ``docs/protocols/identity.md`` (section "Sessions").

* **Hook registration.** ``hooks/table.json`` beside the runtime names which
  program answers which hook event. :func:`with_ours` merges those entries
  into Claude Code's user settings, keeping every other key and hook of the
  user, never twice; :func:`without_ours` takes them out again. coord's own
  entries are recognised by their program: a file named ``coord_*.py`` in a
  folder named ``hooks``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from coord import config
from coord.config import ID_MAX_LENGTH, ID_PATTERN
from coord.errors import CoordError, UsageError

# -- session identity --------------------------------------------------------

SESSION_DIGITS = 6
GUARD_MODES = ("ask", "warn", "off")
DEFAULT_GUARD = "ask"

_NOT_ID = re.compile(r"[^A-Za-z0-9._-]+")


def file_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``[coord]`` section of the configuration file; empty when it cannot be read.

    Hooks must never fail on a damaged file: the commands report it instead.
    """
    try:
        return config.file_settings(config.config_path(environ))
    except UsageError:
        return {}


def _valid_id(value: str) -> bool:
    return bool(value) and len(value) <= ID_MAX_LENGTH and bool(ID_PATTERN.fullmatch(value))


def host_id(environ: Mapping[str, str], settings: Mapping[str, str] | None = None) -> str:
    """This machine's own Yoda id: the configured one, else the short host name.

    The configuration file's ``yoda_id`` wins over ``YODA_ID`` here, because the
    deploy writes the same id to both and a shell passes ``YODA_ID`` on to every
    Claude Code it starts.
    """
    settings = file_settings(environ) if settings is None else settings
    for candidate in (settings.get("yoda_id", ""), environ.get("YODA_ID", "")):
        if _valid_id(candidate):
            return candidate
    short = _NOT_ID.sub("-", os.uname().nodename.split(".")[0]).strip(".-")
    return short[:ID_MAX_LENGTH] if _valid_id(short[:ID_MAX_LENGTH]) else "yoda"


def session_yoda_id(
    session_id: str, environ: Mapping[str, str], settings: Mapping[str, str] | None = None
) -> str:
    """The Yoda id of one Claude Code session.

    ``YODA_ID`` set to something other than the machine's configured id was
    chosen for this session (``YODA_ID=alice claude``) and is kept as it is.
    Otherwise the id is the machine's id plus a short digest of *session_id*,
    trimmed so that the whole stays within the 64 characters ids may have.
    """
    settings = file_settings(environ) if settings is None else settings
    chosen = environ.get("YODA_ID", "")
    if _valid_id(chosen) and chosen != settings.get("yoda_id"):
        return chosen
    base = host_id(environ, settings)
    if not session_id:
        return base
    digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
    room = ID_MAX_LENGTH - SESSION_DIGITS - 1
    return f"{base[:room].rstrip('.-')}-{digest[:SESSION_DIGITS]}"


def guard_mode(environ: Mapping[str, str], settings: Mapping[str, str] | None = None) -> str:
    """``COORD_GUARD`` or the file's ``guard``: ask, warn or off (anything else means ask)."""
    if "COORD_GUARD" in environ:
        value = environ["COORD_GUARD"]
    else:
        settings = file_settings(environ) if settings is None else settings
        value = settings.get("guard", DEFAULT_GUARD)
    value = value.strip().lower()
    return value if value in GUARD_MODES else DEFAULT_GUARD


# -- the hook table ------------------------------------------------------------

TABLE_NAME = "table.json"
PROGRAM_PATTERN = re.compile(r"coord_[A-Za-z0-9_]+\.py")
EVENTS = frozenset(
    {
        "PreToolUse",
        "PostToolUse",
        "UserPromptSubmit",
        "SessionStart",
        "SessionEnd",
        "Stop",
        "SubagentStop",
        "Notification",
        "PreCompact",
    }
)


class HookSpec:
    """One line of the table: Claude Code runs *program* on *event* (when *matcher* fits)."""

    __slots__ = ("event", "program", "matcher", "timeout")

    def __init__(self, event: str, program: str, matcher: str | None, timeout: int):
        self.event, self.program, self.matcher, self.timeout = event, program, matcher, timeout

    def __repr__(self) -> str:
        return f"HookSpec({self.event!r}, {self.program!r}, {self.matcher!r}, {self.timeout})"


def read_table(hooks_dir: Path) -> list[HookSpec]:
    """Read ``table.json`` in *hooks_dir* and check that every program is there."""
    path = Path(hooks_dir) / TABLE_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CoordError(f"no hook table at {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CoordError(f"cannot read the hook table {path}: {error}") from None
    entries = document.get("hooks") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise CoordError(f"{path} has no list under 'hooks'")
    specs = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise CoordError(f"{path}: entry {number} is not an object")
        event, program = entry.get("event"), entry.get("program")
        matcher, timeout = entry.get("matcher"), entry.get("timeout", 10)
        if event not in EVENTS:
            raise CoordError(f"{path}: entry {number} names an unknown event {event!r}")
        if not isinstance(program, str) or not PROGRAM_PATTERN.fullmatch(program):
            raise CoordError(f"{path}: entry {number} needs a program named coord_<name>.py")
        if matcher is not None and not isinstance(matcher, str):
            raise CoordError(f"{path}: entry {number} has a matcher that is not text")
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 600:
            raise CoordError(f"{path}: entry {number} needs a timeout from 1 to 600 seconds")
        if not os.access(Path(hooks_dir) / program, os.X_OK):
            raise CoordError(f"{path}: {program} is missing from {hooks_dir} or not executable")
        specs.append(HookSpec(event, program, matcher or None, timeout))
    return specs


def command_for(hooks_dir: Path, program: str) -> str:
    """The shell command Claude Code runs: the program's absolute path, quoted."""
    return shlex.quote(os.path.join(os.path.abspath(hooks_dir), program))


def is_ours(command: object) -> bool:
    """Does this settings entry run one of coord's hook programs?"""
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return any(
        PROGRAM_PATTERN.fullmatch(os.path.basename(word))
        and os.path.basename(os.path.dirname(word)) == "hooks"
        for word in words[:2]
    )


# -- settings.json -------------------------------------------------------------


def settings_path(environ: Mapping[str, str]) -> Path:
    """Claude Code's user settings: ``$CLAUDE_CONFIG_DIR/settings.json`` or ``~/.claude``."""
    folder = environ.get("CLAUDE_CONFIG_DIR")
    if not folder:
        folder = str(Path(environ.get("HOME") or Path.home()) / ".claude")
    return Path(folder).expanduser() / "settings.json"


def load_settings(path: Path) -> dict:
    """The settings as a dict; ``{}`` when the file is missing or empty.

    Anything that is not a JSON object, or whose ``hooks`` is not shaped as
    Claude Code documents it, is refused: coord never rewrites a file it does
    not understand.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise CoordError(f"cannot read {path}: {error}") from None
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except ValueError as error:
        raise CoordError(
            f"{path} is not valid JSON ({error}); fix it, nothing was changed"
        ) from None
    if not isinstance(settings, dict):
        raise CoordError(f"{path} does not hold a JSON object; nothing was changed")
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise CoordError(f"{path}: 'hooks' is not an object; nothing was changed")
    for event, groups in hooks.items():
        if not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
            raise CoordError(f"{path}: hooks.{event} is not a list of objects; nothing was changed")
        for group in groups:
            if not isinstance(group.get("hooks", []), list):
                raise CoordError(f"{path}: a hooks.{event} entry has no list of hooks")
    return settings


def _entry(spec: HookSpec, hooks_dir: Path) -> dict:
    group: dict = {}
    if spec.matcher:
        group["matcher"] = spec.matcher
    group["hooks"] = [
        {
            "type": "command",
            "command": command_for(hooks_dir, spec.program),
            "timeout": spec.timeout,
        }
    ]
    return group


def _ours_in(settings: dict) -> list[tuple[str, str | None, dict]]:
    """Every coord hook in *settings*: (event, matcher, the hook object)."""
    found = []
    for event, groups in settings.get("hooks", {}).items():
        for group in groups:
            for hook in group.get("hooks", []):
                if isinstance(hook, dict) and is_ours(hook.get("command")):
                    found.append((event, group.get("matcher") or None, hook))
    return found


def without_ours(settings: dict) -> dict:
    """A copy of *settings* with coord's hooks taken out.

    A group (matcher) that only held coord's hooks goes too, then an event left
    without groups, then ``hooks`` itself when coord's were all it held: after
    install and uninstall the settings are what they were before.
    """
    result = json.loads(json.dumps(settings))
    hooks = result.get("hooks")
    if not isinstance(hooks, dict):
        return result
    removed = False
    for event in list(hooks):
        kept_groups = []
        for group in hooks[event]:
            listed = group.get("hooks", [])
            kept = [h for h in listed if not (isinstance(h, dict) and is_ours(h.get("command")))]
            if len(kept) < len(listed):
                removed = True
                if not kept:
                    continue
                group["hooks"] = kept
            kept_groups.append(group)
        if kept_groups or not hooks[event]:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    if removed and not hooks:
        del result["hooks"]
    return result


def registration(settings: dict, specs: list[HookSpec], hooks_dir: Path) -> dict:
    """How far *settings* matches the table: what ``coord hooks status --json`` prints.

    ``registered`` is true when every table entry is there exactly once, as
    install writes it, and no other coord hook is; ``present`` when any coord
    hook at all is in the file; ``stale`` lists coord hooks the table does not
    name (from another tree or an older version).
    """
    ours = _ours_in(settings)
    wanted = []
    for spec in specs:
        command = command_for(hooks_dir, spec.program)
        count = sum(
            1
            for event, matcher, hook in ours
            if event == spec.event
            and matcher == spec.matcher
            and hook.get("command") == command
            and hook.get("timeout") == spec.timeout
            and hook.get("type") == "command"
        )
        wanted.append(
            {
                "event": spec.event,
                "matcher": spec.matcher,
                "command": command,
                "timeout": spec.timeout,
                "registered": count == 1,
            }
        )
    expected = {(w["event"], w["matcher"], w["command"]) for w in wanted}
    others = [
        {"event": event, "matcher": matcher, "command": hook.get("command")}
        for event, matcher, hook in ours
        if (event, matcher, hook.get("command")) not in expected
    ]
    return {
        "registered": all(w["registered"] for w in wanted)
        and not others
        and len(ours) == len(specs),
        "present": bool(ours),
        "hooks": wanted,
        "stale": others,
    }


def with_ours(settings: dict, specs: list[HookSpec], hooks_dir: Path) -> dict:
    """A copy of *settings* with exactly the table's hooks registered."""
    if registration(settings, specs, hooks_dir)["registered"]:
        return json.loads(json.dumps(settings))
    result = without_ours(settings)
    hooks = result.setdefault("hooks", {})
    for spec in specs:
        hooks.setdefault(spec.event, []).append(_entry(spec, hooks_dir))
    return result


def write_settings(path: Path, settings: dict) -> None:
    """Replace the settings file in one step, keeping its permissions.

    A settings file that is a link (dotfile managers) is written where the link
    points, so the link survives.
    """
    # Imported here: every hook imports this module, and only the
    # command that installs needs tempfile.
    import tempfile

    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=".settings.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
