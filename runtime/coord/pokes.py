"""Pokes: the lines of the hub's poke log, and the local mirror of it.

Every poke is one line::

    2026-12-03T16:47:05.123Z mac-1 POKE anyone on the login page?

(UTC time to the millisecond, Yoda id, kind, text escaped by
:mod:`coord.textline`). The hub appends them to ``poke.log``; each host keeps
a mirror of that file, written by ``coord-watch --mirror``, that hooks read
without touching the network. The full description is in
``docs/protocols/polling.md``.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from coord.config import Config, parse_time
from coord.errors import CoordError, UsageError
from coord.record import record
from coord.textline import escape, unescape

# Only type checkers read this import: the transport is loaded by the
# functions that send, so that readers of the mirror (the hooks) never load it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from coord.hub import Batch, Position

KINDS = ("POKE", "HB", "CLAIM", "RELEASE", "CALL", "CHECKIN", "LEFT")
KIND_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
TEXT_MAX_CHARACTERS = 20_000


@record
class Poke:
    time: datetime
    yoda: str
    kind: str
    text: str


def format_poke_time(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_poke(poke: Poke) -> str:
    return f"{format_poke_time(poke.time)} {poke.yoda} {poke.kind} {escape(poke.text)}\n"


def parse_poke(line: str) -> Poke | None:
    """Parse one poke line; None for anything that is not one (a torn last line)."""
    if not line.endswith("\n"):
        return None
    parts = line[:-1].split(" ", 3)
    if len(parts) < 3 or not parts[2] or not KIND_CHARACTERS.issuperset(parts[2]):
        return None
    try:
        moment = parse_time(parts[0])
    except ValueError:
        return None
    return Poke(moment, parts[1], parts[2], unescape(parts[3]) if len(parts) == 4 else "")


def mirror_path(config: Config) -> Path:
    """Where ``coord-watch --mirror`` keeps this host's copy of the poke log."""
    return config.local_state / "mirror" / "poke.log"


def tail_lines(path: Path, count: int, block: int = 64 * 1024) -> list[str]:
    """The last *count* complete lines of *path*, reading from its end only.

    A mirror grows without bound, so reading it whole on every prompt would
    make prompts slower over time; this reads backwards a block at a time.
    """
    if count <= 0:
        return []
    try:
        with open(path, "rb") as handle:
            position = handle.seek(0, os.SEEK_END)
            data = b""
            while position > 0 and data.count(b"\n") <= count:
                step = min(block, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        return []
    pieces = data.split(b"\n")
    # The last piece is either empty or a line still being written; the first
    # one may be cut in the middle unless the file was read from its start.
    pieces = pieces[:-1] if position == 0 else pieces[1:-1]
    lines = [piece.decode("utf-8", errors="replace") + "\n" for piece in pieces]
    return lines[-count:]


def last_pokes(path: Path, count: int) -> list[Poke]:
    """The last *count* pokes in a poke log or mirror (its end only is read)."""
    pokes = []
    for line in tail_lines(path, count):
        poke = parse_poke(line)
        if poke is not None:
            pokes.append(poke)
    return pokes


# -- sending -------------------------------------------------------------------
#
# The hub transport is imported inside these functions only: the hooks import
# this module on every prompt to read the mirror, and must not pay for (or
# reach) the network.


def new_poke(config: Config, kind: str, text: str) -> Poke:
    """A poke from this Yoda, now; the text is checked for size, never for content."""
    if kind not in KINDS:
        raise UsageError(f"unknown poke kind {kind!r}")
    if len(text) > TEXT_MAX_CHARACTERS:
        raise UsageError(f"the text is {len(text)} characters; at most {TEXT_MAX_CHARACTERS}")
    return Poke(config.now(), config.yoda_id, kind, text)


def encode(pokes: Iterable[Poke]) -> bytes:
    return "".join(format_poke(poke) for poke in pokes).encode("utf-8")


def send(config: Config, kind: str, texts: Iterable[str], **kwargs) -> Position:
    """Append one poke per text to the hub's log in one call; raise when it fails."""
    from coord import hub

    return hub.append(config, encode(new_poke(config, kind, text) for text in texts), **kwargs)


def send_best_effort(config: Config, kind: str, texts: Iterable[str]) -> str | None:
    """Send pokes that only speed things up; say what went wrong, or None.

    An unreachable hub is normal (on a train, the hub rebooting): the durable
    bus carries the news anyway, so that is not worth a word. A hub that
    answers with an error is misconfigured and the warning says so.
    """
    from coord import hub

    try:
        send(config, kind, texts, connect_timeout=3, timeout=10.0)
    except hub.HubUnreachable:
        return None
    except CoordError as error:
        return f"could not tell the hub: {error}"
    return None


def commit_text(commit: str | None, text: str) -> str:
    """The text of a CLAIM or RELEASE poke: the commit that carries it, then the topic."""
    return f"{commit or '-'} {text}"


def parse_commit_text(text: str) -> tuple[str, str]:
    commit, _, rest = text.partition(" ")
    return commit, rest


# -- the mirror ----------------------------------------------------------------


class Mirror:
    """This host's copy of the hub's poke.log, kept by ``coord-watch --mirror``.

    The mirror holds the hub's lines byte for byte, whole lines only, so the
    byte offset to resume from is the mirror's size minus ``base``: the number
    of mirror bytes that came from earlier hub logs (it changes only when the
    hub's log is replaced). ``poke.state`` keeps ``base`` and the identity of
    the hub's log. One process at a time keeps the mirror: it holds ``lock``.
    """

    def __init__(self, config: Config):
        self.path = mirror_path(config)
        self.folder = self.path.parent
        self.state_path = self.folder / "poke.state"
        self.lock_path = self.folder / "lock"
        self.size = 0
        self.base = 0
        self.log_id = ""
        self._fd: int | None = None
        self._lock: int | None = None

    def open(self) -> None:
        try:
            self._open()
        except OSError as error:
            self.close()
            raise CoordError(f"cannot keep the mirror in {self.folder}: {error}") from None

    def _open(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(lock)
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise CoordError(f"another coord-watch --mirror already keeps {self.path}") from None
        os.ftruncate(lock, 0)
        os.write(lock, f"{os.getpid()}\n".encode())
        self._lock = lock
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = self._repair()
        try:
            state = _json().loads(self.state_path.read_text(encoding="utf-8"))
            self.base, self.log_id = int(state["base"]), str(state["log_id"])
        except (OSError, ValueError, KeyError, TypeError):
            self.base, self.log_id = 0, ""
        if not 0 <= self.base <= self.size:
            self.base, self.log_id = 0, ""

    def _repair(self) -> int:
        """Cut a last line left incomplete by a crash; return the size."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return size
        position = size
        while position > 0:
            step = min(65536, position)
            position -= step
            found = os.pread(self._fd, step, position).rfind(b"\n")
            if found >= 0:
                position += found + 1
                break
        os.ftruncate(self._fd, position)
        return position

    @property
    def offset(self) -> int:
        """The byte offset in the hub's current log up to which this mirror is complete."""
        return self.size - self.base

    def append(self, batch: Batch) -> list[Poke]:
        """Add a batch of the hub's lines; return the pokes among them."""
        assert self._fd is not None
        if batch.log_id != self.log_id or batch.start != self.offset:
            # The hub's log was replaced (or this is the first batch): from
            # here on, hub offsets count from the current end of the mirror.
            self.base, self.log_id = self.size - batch.start, batch.log_id
            _write_atomically(
                self.state_path, _json().dumps({"log_id": self.log_id, "base": self.base}) + "\n"
            )
        data = b"".join(batch.lines)
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        self.size += len(data)
        found = []
        for line in batch.lines:
            poke = parse_poke(line.decode("utf-8", errors="replace"))
            if poke is not None:
                found.append(poke)
        return found

    def close(self) -> None:
        for fd in (self._fd, self._lock):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock = None


def read_pokes(path: Path) -> list[Poke]:
    """Every poke of a log or mirror, from its start (for rebuilding what derives from it)."""
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
            for line in handle:
                poke = parse_poke(line)
                if poke is not None:
                    found.append(poke)
    except FileNotFoundError:
        pass
    return found


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _json():
    """The json module, imported on first use: only the mirror needs it, and
    every coord-announce would otherwise pay for the import."""
    import json

    return json
