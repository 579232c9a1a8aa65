"""The hub transport: one wrapper that reaches the hub's folder, over ssh or locally.

The hub keeps ``poke.log`` and one heartbeat record per Yoda in its folder
(``COORD_HUB_DIR``). Every operation runs the same small Python program,
:data:`HUB_PROGRAM`, either on the hub through ssh (``python3 -c PROGRAM ...``)
or, on the hub itself, through this interpreter. The remote command line is
built from that constant program, an operation name and validated ids or
numbers only, each quoted; any text a user typed travels on ssh's stdin.

ssh's exit status 255 means the hub could not be reached; it becomes
:class:`HubUnreachable`, never confused with the program failing on the hub
(:class:`HubError`). Every call has a connect timeout and a deadline.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from coord.config import Config
from coord.errors import CoordError, UsageError
from coord.record import record

CONNECT_TIMEOUT = 5  # seconds for ssh to reach the hub and log in
COMMAND_TIMEOUT = 10.0  # seconds for a whole short operation, connection included

# The follower on the hub writes a keepalive on stderr after this many idle
# seconds; a link that stays silent for LINK_TIMEOUT is taken for dead, as
# after a laptop's sleep, when no packet says the connection is gone.
KEEPALIVE_SECONDS = 10
LINK_TIMEOUT = 3.5 * KEEPALIVE_SECONDS

RETRY_FIRST = 0.5  # seconds before the first reconnection; doubles up to retry_max
RETRY_MAX = 30.0

LOCAL_NAMES = ("local",)

# The program that runs on the hub. It reads and writes bytes only and never
# interprets a poke's text: it checks that each line has the poke's shape, with
# no control character, and appends. Kept compatible with any Python 3.7+,
# because the hub's python3 is whatever its system ships.
#
# Appends take an exclusive flock on poke.log and write with O_APPEND, so that
# lines from concurrent writers never interleave, whatever their size: one
# write() of an O_APPEND file is atomic on a local Linux file system, but not
# on every file system and not when the kernel writes less than asked; the
# lock makes the guarantee hold everywhere and lets a failed write be cut back
# to the previous end, so nothing half-written stays behind.
HUB_PROGRAM = r"""
import errno, fcntl, os, select, sys, time

# Plain byte checks rather than the re module: importing re would double the
# start-up time of this program, which every poke pays.
DIGITS = b'0123456789'
ID_FIRST = b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' + DIGITS + b'_'
ID_REST = ID_FIRST + b'.-'
CONTROL = bytes(range(32)) + b'\x7f'

def is_id(word):
    return 0 < len(word) <= 64 and word[:1] in ID_FIRST and not word.translate(None, ID_REST)

def is_kinds(word):
    upper = b'ABCDEFGHIJKLMNOPQRSTUVWXYZ_'
    return all(kind and not kind.translate(None, upper) for kind in word.split(b','))

def is_time(word):
    def digits(part):
        return part and not part.translate(None, DIGITS)
    return (len(word) > 12 and digits(word[:4]) and word[4:5] == b'-' and digits(word[5:7])
            and word[7:8] == b'-' and digits(word[8:10]) and word[10:11] == b'T'
            and word.endswith(b'Z') and not word[11:-1].translate(None, DIGITS + b':.'))

def has_control(line):
    return len(line.translate(None, CONTROL)) != len(line)

def is_number(text):
    digits = text[1:] if text.startswith('-') else text
    return 0 < len(digits) <= 18 and digits.isdigit() and digits.isascii()

def is_log_id(text):
    first, _, second = text.partition('-')
    return text == '-' or (first.isdigit() and second.isdigit() and first.isascii()
                           and second.isascii())
MAX_LINE = 256 * 1024
MAX_INPUT = 4 * 1024 * 1024
CHUNK = 1024 * 1024

class Refused(Exception):
    pass

def say(fd, text):
    data = text.encode('utf-8', 'replace')
    while data:
        data = data[os.write(fd, data):]

def put(data):
    while data:
        data = data[os.write(1, data):]

def read_input():
    data = b''
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            return data
        data += chunk
        if len(data) > MAX_INPUT:
            raise Refused('more than %d bytes on stdin' % MAX_INPUT)

def poke_lines(data):
    if not data.endswith(b'\n'):
        raise Refused('input does not end with a newline')
    lines = data[:-1].split(b'\n')
    for line in lines:
        fields = line.split(b' ', 3)
        if (len(line) > MAX_LINE or len(fields) < 3 or not is_time(fields[0])
                or not is_id(fields[1]) or not is_kinds(fields[2])
                or has_control(line)):
            raise Refused('not a poke line: %r' % line[:80])
    return lines

def append(log, data):
    fd = os.open(log, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        end = os.fstat(fd).st_size
        if end and os.pread(fd, 1, end - 1) != b'\n':
            # A writer died in the middle of its line: end that line so ours
            # stay whole and readable.
            data = b'\n' + data
        done = 0
        try:
            while done < len(data):
                done += os.write(fd, data[done:])
        except OSError:
            os.ftruncate(fd, end)
            raise
        stat = os.fstat(fd)
        return end + len(data), '%d-%d' % (stat.st_dev, stat.st_ino)
    finally:
        os.close(fd)

def write_record(folder, yoda, line):
    path = os.path.join(folder, 'heartbeats', yoda.decode())
    temporary = os.path.join(folder, 'heartbeats', '.%s.%d.tmp' % (yoda.decode(), os.getpid()))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        data = line + b'\n'
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
    os.replace(temporary, path)

def is_heartbeat(line):
    return line.split(b' ', 3)[2:3] == [b'HB']

def back_offset(fd, size, count, skip_heartbeats):
    # Where the last `count` whole lines begin (heartbeats not counted when
    # skip_heartbeats), reading backwards from the end only.
    position, data, block = size, b'', 65536
    while True:
        step = min(block, position)
        position -= step
        data = os.pread(fd, step, position) + data
        block *= 2
        cut = data.rfind(b'\n') + 1
        if count == 0 and (cut or position == 0):
            return position + cut
        lines = data[:cut].split(b'\n')[:-1]
        if position > 0:
            lines = lines[1:]
        start, found = cut, 0
        for line in reversed(lines):
            start -= len(line) + 1
            if not (skip_heartbeats and is_heartbeat(line)):
                found += 1
                if found == count:
                    return position + start
        if position == 0:
            return 0

def inotify(path):
    # Wakes the follower the moment the log changes, where Linux offers it;
    # elsewhere the follower polls.
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        # IN_MODIFY, IN_ATTRIB, IN_DELETE_SELF, IN_MOVE_SELF
        if libc.inotify_add_watch(fd, os.fsencode(path), 0x2 | 0x4 | 0x400 | 0x800) < 0:
            os.close(fd)
            return None
        return fd
    except Exception:
        return None

def follow(log, keepalive, offset, log_id, back, skip_heartbeats):
    os.close(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    fd = os.open(log, os.O_RDONLY)
    stat = os.fstat(fd)
    identity = (stat.st_dev, stat.st_ino)
    this_id = '%d-%d' % identity
    reset = 0
    if back >= 0:
        position = back_offset(fd, stat.st_size, back, skip_heartbeats)
    else:
        position = offset
        if ((log_id != '-' and log_id != this_id) or position > stat.st_size
                or (position > 0 and os.pread(fd, 1, position - 1) != b'\n')):
            # Not the log we were following, or not a line boundary of it:
            # the log was replaced; start the new one from its beginning.
            position, reset = 0, 1
    say(2, 'coord-hub follow %d %s %d\n' % (position, this_id, reset))
    watch = inotify(log)
    last_sent = time.monotonic()
    stdin_open = True
    while True:
        data = os.pread(fd, CHUNK, position)
        cut = data.rfind(b'\n') + 1
        if cut == 0 and len(data) == CHUNK:
            cut = len(data)
        if cut:
            put(data[:cut])
            position += cut
            last_sent = time.monotonic()
            continue
        try:
            now_stat = os.stat(log)
        except FileNotFoundError:
            now_stat = None
        if (now_stat is None or (now_stat.st_dev, now_stat.st_ino) != identity
                or now_stat.st_size < position):
            say(2, 'coord-hub replaced\n')
            return
        idle = time.monotonic() - last_sent
        if idle >= keepalive:
            say(2, 'coord-hub alive\n')
            last_sent = time.monotonic()
            continue
        waiting = [watch] if watch is not None else []
        if stdin_open:
            waiting.append(0)
        pause = min(keepalive - idle, 2.0 if watch is not None else 0.05)
        ready = select.select(waiting, [], [], pause)[0]
        if 0 in ready:
            # The client keeps our stdin open while it reads: end of input
            # means it went away, and so do we, at once.
            if not os.read(0, 65536):
                return
        if watch in ready:
            try:
                while os.read(watch, 65536):
                    pass
            except OSError:
                pass

def main(argv):
    os.umask(0o077)
    operation, folder = argv[1], os.path.expanduser(argv[2])
    os.makedirs(os.path.join(folder, 'heartbeats'), 0o700, exist_ok=True)
    log = os.path.join(folder, 'poke.log')
    if operation == 'append':
        end, log_id = append(log, b'\n'.join(poke_lines(read_input())) + b'\n')
        say(1, '%d %s\n' % (end, log_id))
    elif operation == 'heartbeat':
        yoda = os.fsencode(argv[3])
        lines = poke_lines(read_input())
        if not is_id(yoda) or len(lines) != 1 or lines[0].split(b' ')[1] != yoda:
            raise Refused('a heartbeat is one line of the Yoda named')
        end, log_id = append(log, lines[0] + b'\n')
        write_record(folder, yoda, lines[0])
        say(1, '%d %s\n' % (end, log_id))
    elif operation == 'records':
        directory = os.path.join(folder, 'heartbeats')
        for name in sorted(os.listdir(directory)):
            if name.startswith('.') or not is_id(os.fsencode(name)):
                continue
            try:
                with open(os.path.join(directory, name), 'rb') as handle:
                    data = handle.read(MAX_LINE + 1)
            except OSError:
                continue
            if data.endswith(b'\n') and data.count(b'\n') == 1:
                put(data)
    elif operation == 'select':
        kinds = os.fsencode(argv[3])
        if not is_kinds(kinds):
            raise Refused('bad kinds')
        wanted = set(kinds.split(b','))
        with open(log, 'ab'):
            pass
        with open(log, 'rb') as handle:
            for line in handle:
                kind = line.split(b' ', 3)[2:3]
                if line.endswith(b'\n') and kind and kind[0] in wanted:
                    put(line)
    elif operation == 'tail':
        if not is_number(argv[3]):
            raise Refused('bad count')
        with open(log, 'ab'):
            pass
        with open(log, 'rb') as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(back_offset(handle.fileno(), size, int(argv[3]), argv[4] == '1'))
            data = handle.read(size - handle.tell())
            put(data[:data.rfind(b'\n') + 1])
    elif operation == 'follow':
        numbers = [argv[3], argv[4], argv[6]]
        if not (all(is_number(n) for n in numbers) and is_log_id(argv[5])):
            raise Refused('bad follow arguments')
        follow(log, max(1, int(argv[3])), int(argv[4]), argv[5], int(argv[6]), argv[7] == '1')
    else:
        raise Refused('unknown operation %r' % operation)

try:
    main(sys.argv)
except Refused as error:
    say(2, 'coord-hub: refused: %s\n' % error)
    sys.exit(3)
except BrokenPipeError:
    sys.exit(0)
except OSError as error:
    if error.errno == errno.EPIPE:
        sys.exit(0)
    say(2, 'coord-hub: %s\n' % error)
    sys.exit(1)
except (IndexError, ValueError) as error:
    say(2, 'coord-hub: bad arguments: %s\n' % error)
    sys.exit(2)
except KeyboardInterrupt:
    sys.exit(1)
"""


class HubUnreachable(CoordError):
    """ssh could not reach the hub (its exit status 255), or the hub did not answer in time."""


class HubError(CoordError):
    """The hub was reached but the operation failed there."""


def is_local(config: Config) -> bool:
    """True on the hub itself: COORD_HUB is ``local`` or this host's short name."""
    hub = config.hub.strip().lower()
    return hub in LOCAL_NAMES or hub == config.host.lower()


def check_settings(config: Config) -> None:
    """Refuse a hub name or folder that could be read as an option or break a line."""
    hub = config.hub
    if not hub or hub.startswith("-") or any(c.isspace() or ord(c) < 0x20 for c in hub):
        raise UsageError(f"COORD_HUB must be an ssh destination such as zeus, not {hub!r}")
    folder = config.hub_dir
    if not folder or any(ord(c) < 0x20 or ord(c) == 0x7F for c in folder):
        raise UsageError(f"COORD_HUB_DIR must be a folder name, not {folder!r}")


def describe(config: Config) -> str:
    where = "this host" if is_local(config) else config.hub
    return f"the hub ({where}:{config.hub_dir})"


def command(config: Config, operation: str, *args: str, connect_timeout: int = CONNECT_TIMEOUT):
    """The argument list that runs one hub operation; every word is a constant or validated."""
    check_settings(config)
    words = ["-I", "-S", "-c", HUB_PROGRAM, operation, config.hub_dir, *args]
    if is_local(config):
        return [sys.executable, *words]
    remote = " ".join(shlex.quote(word) for word in ["python3", *words])
    # The user's COORD_SSH words come first: for ssh the first value given for
    # an option wins, so their own BatchMode or ConnectTimeout are kept.
    return [
        *config.ssh,
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        config.hub,
        remote,
    ]


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "no message"
    last = lines[-1]
    return last[len("coord-hub: ") :] if last.startswith("coord-hub: ") else last


def _failure(config: Config, returncode: int, stderr: bytes) -> CoordError:
    if returncode == 255 and not is_local(config):
        return HubUnreachable(f"{describe(config)} is unreachable: {_last_line(stderr)}")
    if returncode == 127:
        return HubError(f"{describe(config)} cannot run python3: {_last_line(stderr)}")
    return HubError(f"{describe(config)} failed: {_last_line(stderr)}")


def run(
    config: Config,
    operation: str,
    *args: str,
    input: bytes = b"",
    timeout: float = COMMAND_TIMEOUT,
    connect_timeout: int = CONNECT_TIMEOUT,
) -> bytes:
    """Run one short hub operation and return its stdout; raise on any failure."""
    argv = command(config, operation, *args, connect_timeout=connect_timeout)
    try:
        result = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise CoordError(f"{argv[0]} is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise HubUnreachable(f"{describe(config)} did not answer within {timeout:.0f} s") from None
    if result.returncode != 0:
        raise _failure(config, result.returncode, result.stderr)
    return result.stdout


@record
class Position:
    """Where poke.log ended after an append: a byte offset and the file's identity."""

    offset: int
    log_id: str


def _position(output: bytes) -> Position:
    try:
        offset, log_id = output.decode("ascii").split()
        return Position(int(offset), log_id)
    except ValueError:
        raise HubError(f"unexpected answer from the hub: {output[:80]!r}") from None


def append(config: Config, lines: bytes, **kwargs) -> Position:
    """Append whole poke lines to poke.log in one locked write."""
    return _position(run(config, "append", input=lines, **kwargs))


def heartbeat(config: Config, yoda: str, line: bytes, **kwargs) -> Position:
    """Append one heartbeat line and make it the Yoda's record, in one call."""
    return _position(run(config, "heartbeat", yoda, input=line, **kwargs))


def split_lines(data: bytes) -> list[bytes]:
    """Whole lines, each with its newline; only a newline ends a line (never a \\r)."""
    return [piece + b"\n" for piece in data.split(b"\n")[:-1]]


def records(config: Config, **kwargs) -> list[bytes]:
    """Every Yoda's heartbeat record: one poke line each."""
    return split_lines(run(config, "records", **kwargs))


def tail(config: Config, count: int, skip_heartbeats: bool = False, **kwargs) -> list[bytes]:
    """The last *count* lines of poke.log (heartbeats not counted when *skip_heartbeats*)."""
    flag = "1" if skip_heartbeats else "0"
    return split_lines(run(config, "tail", str(int(count)), flag, **kwargs))


def select_kinds(config: Config, kinds: list[str], **kwargs) -> list[bytes]:
    """The lines of poke.log whose kind is one of *kinds*, in order."""
    return split_lines(run(config, "select", ",".join(kinds), **kwargs))


@record
class Batch:
    """Whole lines read from poke.log, starting at byte *start* of the log *log_id*.

    *reset* is true when the hub's log is not the one the follower was reading
    (it was replaced or cut): the lines then start at the new log's beginning.
    """

    lines: list[bytes]
    start: int
    log_id: str
    reset: bool = False


class Follower:
    """Follows poke.log from a byte offset, reconnecting when the link drops.

    Only whole lines are handed out and the offset moves past exactly those,
    so a reconnection resumes at the first line not yet seen: nothing lost,
    nothing repeated.
    """

    def __init__(
        self,
        config: Config,
        offset: int = 0,
        log_id: str = "",
        back_lines: int | None = None,
        skip_heartbeats: bool = False,
        persistent: bool = False,
        retry_max: float = RETRY_MAX,
        warn: Callable[[str], None] | None = None,
    ):
        self.config = config
        self.offset = offset
        self.log_id = log_id
        self.back_lines = back_lines
        self.skip_heartbeats = skip_heartbeats
        # A persistent follower (the mirror) retries every failure; otherwise
        # failing to connect the first time is an error for the caller.
        self.persistent = persistent
        self.retry_max = retry_max
        self.warn = warn or (lambda message: None)
        self.connected = False

    def batches(self, deadline: float | None = None) -> Iterator[Batch]:
        """Yield batches until *deadline* (a time.monotonic() value), or forever."""
        failures = 0
        while deadline is None or time.monotonic() < deadline:
            try:
                for batch in self._connection(deadline):
                    failures = 0
                    yield batch
            except CoordError as error:
                if not (self.persistent or self.connected):
                    raise
                failures += 1
                delay = min(self.retry_max, RETRY_FIRST * 2 ** (failures - 1))
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                self.warn(f"{error}; trying again in {delay:.1f} s")
                time.sleep(delay)
            else:
                # A clean end: the log was replaced, the hub side stopped, or
                # the deadline came. Reconnect at once, with a breath so that
                # nothing spins.
                if deadline is None or time.monotonic() < deadline:
                    time.sleep(0.1)

    def _argv(self) -> list[str]:
        back = -1 if self.connected or self.back_lines is None else self.back_lines
        return command(
            self.config,
            "follow",
            str(KEEPALIVE_SECONDS),
            str(self.offset),
            self.log_id or "-",
            str(back),
            "1" if self.skip_heartbeats else "0",
        )

    def _connection(self, deadline: float | None) -> Iterator[Batch]:
        argv = self._argv()
        try:
            # stdin stays open and unused: the hub side ends as soon as it closes.
            process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError:
            raise CoordError(f"{argv[0]} is not installed or not on PATH") from None
        assert process.stdout is not None and process.stderr is not None
        out, err = process.stdout.fileno(), process.stderr.fileno()
        started = False  # the hub said where it starts
        reset = False  # ... and that it starts a log other than ours
        data, messages, said = b"", b"", []
        open_fds = [out, err]
        heard = time.monotonic()
        try:
            while open_fds:
                now = time.monotonic()
                wait = LINK_TIMEOUT - (now - heard)
                if deadline is not None:
                    if now >= deadline:
                        return
                    wait = min(wait, deadline - now)
                # Silence is judged only after looking: while the consumer
                # was busy (a sync), what the hub sent waits in the pipe.
                ready = select.select(open_fds, [], [], max(0.0, wait))[0]
                if not ready and time.monotonic() - heard >= LINK_TIMEOUT:
                    raise HubUnreachable(
                        f"{describe(self.config)} went silent for {LINK_TIMEOUT:.0f} s"
                    )
                for fd in ready:
                    chunk = os.read(fd, 1024 * 1024)
                    if not chunk:
                        open_fds.remove(fd)
                        continue
                    heard = time.monotonic()
                    if fd == out:
                        data += chunk
                        continue
                    messages += chunk
                    while b"\n" in messages:
                        line, messages = messages.split(b"\n", 1)
                        if line.startswith(b"coord-hub follow "):
                            reset = self._start(line)
                            started = True
                        elif not line.startswith(b"coord-hub "):
                            said = [*said[-4:], line]  # ssh's own words, for errors
                        elif line.startswith(b"coord-hub: "):
                            said = [*said[-4:], line]
                cut = data.rfind(b"\n") + 1
                if started and cut:
                    lines = split_lines(data[:cut])
                    batch = Batch(lines, self.offset, self.log_id, reset)
                    data, reset = data[cut:], False
                    self.offset += cut
                    yield batch
            try:
                returncode = process.wait(timeout=CONNECT_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise HubUnreachable(f"{describe(self.config)} did not hang up") from None
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for pipe in (process.stdin, process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
        if returncode != 0:
            raise _failure(self.config, returncode, b"\n".join(said))

    def _start(self, line: bytes) -> bool:
        """Take in the hub's first line: where it starts and in which log."""
        try:
            start, log_id, reset = line.decode("ascii").split()[2:5]
            self.offset = int(start)
        except ValueError:
            raise HubError(f"unexpected answer from the hub: {line[:80]!r}") from None
        changed = reset == "1"
        if changed:
            self.warn(f"{describe(self.config)} has a new poke log; following it from its start")
        self.log_id = log_id
        self.connected = True
        return changed


__all__ = [
    "HUB_PROGRAM",
    "Batch",
    "Follower",
    "HubError",
    "HubUnreachable",
    "Position",
    "append",
    "check_settings",
    "command",
    "describe",
    "heartbeat",
    "is_local",
    "records",
    "run",
    "select_kinds",
    "tail",
]
