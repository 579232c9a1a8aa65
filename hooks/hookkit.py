"""What coord's Claude Code hooks share: their input, time budget, identity and local reads.

Each hook is a small program that Claude Code runs with one JSON document on
stdin. The hooks read local files only (the state clone, the hub mirror kept
by ``coord-watch --mirror``) and never stand in the session's way: any failure
ends the program with exit 0 and nothing on stdout, and a timer ends it the
same way when its time budget runs out. ``COORD_HOOKS_DEBUG=1`` shows such a
failure on stderr.

The runtime is found beside this folder (``../runtime``), wherever the
``hooks`` folder really lives, so a deployed version always runs with the
runtime it was shipped with.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

# A hook lives for a few dozen milliseconds and builds no reference cycles
# worth collecting; the collector's passes over the objects created by imports
# only slow it down.
gc.disable()

HOOKS_DIR = os.path.dirname(os.path.realpath(__file__))
RUNTIME_DIR = os.path.join(os.path.dirname(HOOKS_DIR), "runtime")
if RUNTIME_DIR not in sys.path:
    sys.path.insert(0, RUNTIME_DIR)

from coord import claude, config  # noqa: E402
from coord.pokes import Poke, format_poke_time, mirror_path, parse_poke  # noqa: E402

# A prompt with a pasted file can be large; anything beyond this is not ours to read.
INPUT_LIMIT = 32 * 1024 * 1024
COORD_PROGRAM = os.path.join(RUNTIME_DIR, "bin", "coord")


class OutOfTime(BaseException):
    """The hook's time budget ran out (a BaseException so no library swallows it)."""


def _expire(signum, frame) -> None:
    raise OutOfTime()


def read_event(stream=None) -> dict | None:
    """The JSON object Claude Code sent, or None for anything else."""
    stream = sys.stdin.buffer if stream is None else stream
    data = stream.read(INPUT_LIMIT + 1)
    if len(data) > INPUT_LIMIT:
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def run(handler: Callable[[dict], str | None], budget: float) -> None:
    """Run *handler* on the input and print what it returns; always exit 0.

    The timer raises :class:`OutOfTime` wherever the hook is, subprocess waits
    included (a child is killed then), and the hook ends quietly.
    """
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, budget)
    output = None
    try:
        event = read_event()
        if event is not None:
            output = handler(event)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException:
        signal.setitimer(signal.ITIMER_REAL, 0)
        output = None
        if os.environ.get("COORD_HOOKS_DEBUG"):
            import traceback

            traceback.print_exc()
    if output:
        try:
            sys.stdout.write(output)
            sys.stdout.flush()
        except BaseException:
            pass
    # Skip the interpreter's teardown: nothing is left to flush and every
    # millisecond counts on a prompt.
    os._exit(0)


def attempt(function: Callable, *args, default=None):
    """``function(*args)``, or *default* when it raises.

    One broken source (a damaged repository, an unreadable file) must not
    silence what the others have to say. The time budget still ends the whole
    hook: :class:`OutOfTime` is not an ``Exception``.
    """
    try:
        return function(*args)
    except Exception:
        if os.environ.get("COORD_HOOKS_DEBUG"):
            import traceback

            traceback.print_exc()
        return default


def answer(event_name: str, **fields: str) -> str:
    """A JSON answer in the documented ``hookSpecificOutput`` shape."""
    top = {key: fields.pop(key) for key in ("systemMessage",) if key in fields}
    specific = {"hookEventName": event_name}
    specific.update(fields)
    document = {"hookSpecificOutput": specific}
    document.update(top)
    return json.dumps(document, ensure_ascii=False) + "\n"


# -- who this session is ---------------------------------------------------------


# The small record types below are plain classes rather than dataclasses:
# building a dataclass costs a fraction of a millisecond at import, and every
# prompt pays for imports.


class Session:
    """One Claude Code session seen from a hook: its ids, configuration and cwd."""

    __slots__ = ("session_id", "yoda_id", "host_id", "env", "config", "cwd", "settings")

    def __init__(self, session_id, yoda_id, host_id, env, loaded, cwd, settings):
        self.session_id: str = session_id
        self.yoda_id: str = yoda_id
        self.host_id: str = host_id
        self.env: dict = env
        self.config: config.Config = loaded
        self.cwd: str = cwd
        self.settings: dict = settings  # the configuration file's [coord] section

    def own_ids(self) -> frozenset:
        """Ids whose claims count as this session's own: its own and its machine's."""
        return frozenset((self.yoda_id, self.host_id))


def open_session(event: Mapping, environ: Mapping[str, str] | None = None) -> Session | None:
    """The session named by the hook input, or None when the input has no session id."""
    session_id = event.get("session_id")
    if not isinstance(session_id, str) or not session_id.strip():
        return None
    environ = os.environ if environ is None else environ
    settings = claude.file_settings(environ)
    yoda_id = claude.session_yoda_id(session_id, environ, settings)
    env = dict(environ)
    env["YODA_ID"] = yoda_id
    loaded = config.load(env, settings)
    cwd = event.get("cwd")
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        cwd = environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    host = claude.host_id(environ, settings)
    return Session(session_id, yoda_id, host, env, loaded, cwd, settings)


def is_set_up(session: Session) -> bool:
    """Is coord in use here: a state clone or a hub mirror? Hooks stay silent otherwise."""
    return (session.config.state / ".git").exists() or mirror_path(session.config).exists()


# -- a small memory per session ------------------------------------------------------


def session_key(session_id: str) -> str:
    """A file name for a session id, whatever characters the id holds."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]


class Memory:
    """What this session was already told: ``<local_state>/sessions/<key>.json``."""

    def __init__(self, session: Session):
        folder = session.config.local_state / "sessions"
        self.path = folder / f"{session_key(session.session_id)}.json"
        self.beat_path = folder / f"{session_key(session.session_id)}.beat"

    def load(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
        os.replace(temporary, self.path)

    def forget(self) -> None:
        for path in (self.path, self.beat_path):
            with contextlib.suppress(OSError):
                path.unlink()


def spawn(session: Session, *args: str, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``coord ARGS`` as this session, detached: it outlives the hook.

    Give *stderr* a file, not a pipe: a pipe would break once the hook exits.
    """
    return subprocess.Popen(
        [sys.executable, COORD_PROGRAM, *args],
        env=session.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )


_SHELLS = frozenset(("sh", "bash", "zsh", "dash", "ksh", "fish"))


def _process(pid: int) -> tuple[str, int]:
    """The command name and the parent of process *pid* (``ps`` on Linux and macOS)."""
    result = subprocess.run(
        ["ps", "-o", "ppid=", "-o", "comm=", "-p", str(pid)],
        capture_output=True,
        text=True,
        timeout=2,
    )
    parent, _, name = result.stdout.strip().partition(" ")
    return os.path.basename(name.strip()).lstrip("-"), int(parent)


def claude_pid() -> int | None:
    """The Claude Code process running this hook: our parent, or the parent of the
    shell it started us through; None when that cannot be told."""
    pid = os.getppid()
    try:
        name, parent = _process(pid)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    if name in _SHELLS:
        pid = parent
    return pid if pid > 1 else None


def mark_beat(session: Session) -> None:
    """Note that this session's heartbeat was just sent."""
    stamp = Memory(session).beat_path
    stamp.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp.touch()
    now = session.config.now().timestamp()
    os.utime(stamp, (now, now))


def keep_alive(session: Session, every: float = 60.0) -> bool:
    """Send this session's heartbeat in the background when the last one is old.

    The hook itself does not wait for the hub: ``coord-heartbeat`` runs on as
    a detached process. A stamp file's time keeps it to one per *every*
    seconds, below the 90 s after which coord-who stops calling a Yoda live.
    """
    try:
        last = Memory(session).beat_path.stat().st_mtime
        if session.config.now().timestamp() - last < every:
            return False
    except FileNotFoundError:
        pass
    mark_beat(session)
    spawn(session, "heartbeat")
    return True


# -- repositories, read from their files ------------------------------------------------


def repository_root(path: str) -> str | None:
    """The work tree holding *path* (which need not exist yet), or None."""
    current = os.path.abspath(path)
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _git_dir(root: str) -> str | None:
    dot_git = os.path.join(root, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    try:
        with open(dot_git, encoding="utf-8") as handle:
            line = handle.readline().strip()
    except OSError:
        return None
    if not line.startswith("gitdir: "):
        return None
    return os.path.normpath(os.path.join(root, line[len("gitdir: ") :]))


_OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def head_commit(root: str) -> str | None:
    """HEAD's commit id read from the repository's files; None when unsure.

    This saves running git when nothing moved. Anything unexpected (a ref
    store other than files and packed-refs, a damaged HEAD) gives None, and
    the caller asks git instead.
    """
    git_dir = _git_dir(root)
    if git_dir is None:
        return None
    try:
        with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as handle:
            head = handle.read().strip()
        if _OBJECT_ID.fullmatch(head):
            return head
        ref = head[len("ref: ") :] if head.startswith("ref: refs/") else ""
        if not ref or ".." in ref or "\0" in ref:
            return None
        common = git_dir
        if os.path.exists(os.path.join(git_dir, "commondir")):
            with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as handle:
                common = os.path.normpath(os.path.join(git_dir, handle.read().strip()))
        for folder in (git_dir, common):
            try:
                with open(os.path.join(folder, ref), encoding="utf-8") as handle:
                    value = handle.read().strip()
                return value if _OBJECT_ID.fullmatch(value) else None
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
        with open(os.path.join(common, "packed-refs"), encoding="utf-8") as handle:
            for line in handle:
                value, _, name = line.rstrip("\n").partition(" ")
                if name == ref:
                    return value if _OBJECT_ID.fullmatch(value) else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return None


class Commit:
    __slots__ = ("sha", "author", "time", "subject")

    def __init__(self, sha: str, author: str, time: datetime, subject: str):
        self.sha, self.author, self.time, self.subject = sha, author, time, subject


def recent_commits(root: str, count: int, timeout: float = 1.5) -> list[Commit]:
    """The last *count* commits reachable from HEAD; empty when git cannot say."""
    from coord.gitrepo import GitError, Repo

    try:
        result = Repo(Path(root)).run(
            "log",
            f"-{count}",
            "--no-color",
            "--format=%H%x1f%an%x1f%ct%x1f%s",
            check=False,
            timeout=timeout,
        )
    except GitError:
        return []
    if result.returncode != 0:
        return []
    commits = []
    for line in result.stdout.splitlines():
        fields = line.split("\x1f")
        if len(fields) == 4 and fields[2].isdigit():
            moment = datetime.fromtimestamp(int(fields[2]), timezone.utc)
            commits.append(Commit(fields[0], fields[1], moment, fields[3]))
    return commits


# -- the hub mirror ---------------------------------------------------------------------


class MirroredPoke:
    """A poke from the mirror with a digest of the line it came from (its identity)."""

    __slots__ = ("poke", "key")

    def __init__(self, poke: Poke, key: str):
        self.poke, self.key = poke, key


SCAN_BLOCK = 64 * 1024
# Where a mirror line's kind starts: after the time (24 characters) and the Yoda id.
_TIME_WIDTH = 24


def recent_pokes(
    session: Session,
    since: datetime | None = None,
    keep: int = 50,
    max_bytes: int = 1024 * 1024,
) -> list[MirroredPoke]:
    """The latest pokes of the mirror, oldest first: what a hook may want to tell.

    That is the *keep* newest pokes other than heartbeats, and every roll-call
    poke (CALL, CHECKIN) among the rest, back to *since*. Heartbeats are most
    of a busy mirror and tell the model nothing; they are skipped without
    being parsed. The mirror is read backwards from its end, *max_bytes* at
    most (over four hours of heartbeats from 50 Yodas), so a mirror of a million
    lines costs no more than one of a thousand.
    """
    cutoff = format_poke_time(since).encode() if since is not None else b""
    try:
        with open(mirror_path(session.config), "rb") as handle:
            lines = _lines_back(handle, max_bytes, keep, cutoff)
    except OSError:
        return []
    found = []
    for line in reversed(lines):
        poke = parse_poke(line.decode("utf-8", errors="replace"))
        if poke is not None:
            found.append(MirroredPoke(poke, hashlib.sha1(line).hexdigest()[:16]))
    return found


def _lines_back(handle, max_bytes: int, keep: int, cutoff: bytes) -> list[bytes]:
    """The lines :func:`recent_pokes` wants, newest first, each with its newline."""
    chosen: list[bytes] = []
    others = 0
    position = end = handle.seek(0, os.SEEK_END)
    carry = b""
    while position > 0 and end - position < max_bytes:
        step = min(SCAN_BLOCK, position)
        position -= step
        handle.seek(position)
        data = handle.read(step) + carry
        carry = b""
        if position > 0:
            # The block's first line may have begun in the block before it.
            cut = data.find(b"\n") + 1
            carry, data = (data[:cut], data[cut:]) if cut else (data, b"")
        # What follows the block's last newline is empty, or the end of the
        # mirror still being written: either way not a line yet.
        data = data[: data.rfind(b"\n") + 1]
        if others < keep:
            candidates = reversed(data.split(b"\n")[:-1])
        else:
            # Enough pokes already: only roll-call lines still matter, and
            # they are rare, so look for them instead of walking every line.
            candidates = reversed(_roll_call_lines(data))
        for line in candidates:
            kind = line.find(b" ", _TIME_WIDTH + 1) + 1
            if not kind or line.startswith(b"HB ", kind):
                continue
            if line[:_TIME_WIDTH] < cutoff:
                return chosen
            others += 1
            if others <= keep or line.startswith(_ROLL_CALL_KINDS, kind):
                chosen.append(line + b"\n")
        if data and data[:_TIME_WIDTH] < cutoff:
            break
    return chosen


_ROLL_CALL_KINDS = (b"CALL ", b"CHECKIN ")


def _roll_call_lines(data: bytes) -> list[bytes]:
    """Lines of *data* (whole lines) that may be CALL or CHECKIN pokes, in order."""
    found = {}
    for kind in _ROLL_CALL_KINDS:
        marker = b" " + kind
        at = data.find(marker)
        while at >= 0:
            start = data.rfind(b"\n", 0, at) + 1
            stop = data.find(b"\n", at)
            found[start] = data[start:stop]
            at = data.find(marker, stop)
    return [found[start] for start in sorted(found)]


# -- presence -------------------------------------------------------------------------


class Presence:
    """What the mirror's presence snapshot says of one Yoda."""

    __slots__ = ("state", "age", "doing")

    def __init__(self, state: str, age: float, doing: tuple):
        self.state = state  # LIVE, STALE, DEAD or LEFT
        self.age = age  # seconds since its last heartbeat
        self.doing = doing  # the topics of its claims


def presence(session: Session) -> dict[str, Presence]:
    """Every Yoda in the mirror's presence snapshot; empty when there is none."""
    from coord import presence as snapshot

    now = session.config.now()
    return {
        yoda: Presence(
            snapshot.state_of(session.config, record, now),
            (now - record.time).total_seconds(),
            record.doing,
        )
        for yoda, record in snapshot.read_local(session.config).items()
    }


# -- wording ----------------------------------------------------------------------------


def one_line(text: str, width: int = 160) -> str:
    """*text* escaped onto one line (coord's escapes) and cut to *width* characters."""
    from coord.textline import escape

    line = escape(text)
    return line if len(line) <= width else line[: width - 3] + "..."
