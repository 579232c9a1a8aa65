"""Presence: who is alive, from heartbeats, and what each Yoda is doing.

Every Yoda sends a heartbeat about once a minute (``coord-heartbeat``): an
``HB`` poke whose text is a JSON object with the host and the topics of its
active claims::

    2026-12-03T16:47:05.123Z mac-1 HB {"host":"mac-1","doing":["auth refactor"]}

A Yoda that leaves cleanly sends the same with the kind ``LEFT``. The hub
keeps the last such line per Yoda as its record (``heartbeats/<id>``), and
``coord-watch --mirror`` keeps the latest one per Yoda seen in the pokes in
``<local_state>/mirror/presence.json``, so hooks know who is alive without the
network. The full description is in ``docs/protocols/polling.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path

from coord.config import ID_MAX_LENGTH, ID_PATTERN, Config, parse_time
from coord.pokes import Poke, format_poke_time, parse_poke
from coord.record import record

LIVE = "LIVE"
STALE = "STALE"
DEAD = "DEAD"
LEFT = "LEFT"
STATES = (LIVE, STALE, DEAD, LEFT)

HEARTBEAT_KINDS = ("HB", "LEFT")
SNAPSHOT_VERSION = 1


@record
class Heartbeat:
    """The last sign of life of one Yoda."""

    yoda: str
    time: datetime
    host: str
    doing: tuple[str, ...] = ()
    left: bool = False


def heartbeat_text(host: str, doing: list[str]) -> str:
    """The text of an HB or LEFT poke: ``{"host": ..., "doing": [topics]}``."""
    return json.dumps(
        {"host": host, "doing": list(doing)}, ensure_ascii=False, separators=(",", ":")
    )


def from_poke(poke: Poke) -> Heartbeat | None:
    """The heartbeat an HB or LEFT poke carries; None for other pokes or a damaged text."""
    if poke.kind not in HEARTBEAT_KINDS:
        return None
    try:
        fields = json.loads(poke.text) if poke.text else {}
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    host = fields.get("host", "")
    doing = fields.get("doing", [])
    if not isinstance(host, str) or not isinstance(doing, list):
        return None
    topics = tuple(topic for topic in doing if isinstance(topic, str))
    return Heartbeat(poke.yoda, poke.time, host, topics, poke.kind == "LEFT")


def from_line(line: str) -> Heartbeat | None:
    """The heartbeat of one poke line (a hub record is one such line)."""
    poke = parse_poke(line)
    return from_poke(poke) if poke is not None else None


def classify(
    record: Heartbeat, now: datetime, live_seconds: float = 90, stale_seconds: float = 180
) -> str:
    """LEFT if the Yoda left; else LIVE, STALE or DEAD by the heartbeat's age.

    LIVE below *live_seconds*, STALE below *stale_seconds*, DEAD after. A
    heartbeat from the future (a clock ahead of ours) counts as LIVE.
    """
    if record.left:
        return LEFT
    age = (now - record.time).total_seconds()
    if age < live_seconds:
        return LIVE
    if age < stale_seconds:
        return STALE
    return DEAD


def state_of(config: Config, record: Heartbeat, now: datetime | None = None) -> str:
    """:func:`classify` with the thresholds of *config* (COORD_LIVE/STALE_SECONDS)."""
    moment = config.now() if now is None else now
    return classify(record, moment, config.live_seconds, config.stale_seconds)


def presence_path(config: Config) -> Path:
    """Where ``coord-watch --mirror`` keeps the latest heartbeat of every Yoda."""
    return config.local_state / "mirror" / "presence.json"


def to_json(record: Heartbeat) -> dict:
    return {
        "time": format_poke_time(record.time),
        "host": record.host,
        "doing": list(record.doing),
        "left": record.left,
    }


def _from_json(yoda: str, fields: dict) -> Heartbeat | None:
    try:
        moment = parse_time(fields["time"])
        doing = tuple(str(topic) for topic in fields.get("doing", []))
        return Heartbeat(yoda, moment, str(fields.get("host", "")), doing, bool(fields.get("left")))
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def read_local(config: Config) -> dict[str, Heartbeat]:
    """The latest heartbeat per Yoda seen by this host's mirror; {} if there is none.

    Local files only: a hook may call this on every prompt. A missing or
    damaged snapshot reads as empty, never as an error.
    """
    try:
        document = json.loads(presence_path(config).read_text(encoding="utf-8"))
        yodas = document["yodas"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(yodas, dict):
        return {}
    records = {}
    for yoda, fields in yodas.items():
        if not (
            isinstance(yoda, str)
            and isinstance(fields, dict)
            and len(yoda) <= ID_MAX_LENGTH
            and ID_PATTERN.fullmatch(yoda)
        ):
            continue
        record = _from_json(yoda, fields)
        if record is not None:
            records[yoda] = record
    return records


def local_states(config: Config, now: datetime | None = None) -> dict[str, str]:
    """LIVE/STALE/DEAD/LEFT of every Yoda in the local snapshot."""
    moment = config.now() if now is None else now
    return {yoda: state_of(config, record, moment) for yoda, record in read_local(config).items()}


def write_local(config: Config, records: dict[str, Heartbeat]) -> None:
    """Replace the snapshot in one rename: a reader sees the old one or the new one."""
    path = presence_path(config)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = {
        "version": SNAPSHOT_VERSION,
        "yodas": {yoda: to_json(records[yoda]) for yoda in sorted(records)},
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    os.replace(temporary, path)


def take_in(records: dict[str, Heartbeat], pokes: list[Poke]) -> bool:
    """Update *records* with the heartbeats among *pokes* (the last one wins); True if any."""
    changed = False
    for poke in pokes:
        record = from_poke(poke)
        if record is not None:
            records[record.yoda] = record
            changed = True
    return changed


# -- sessions that this machine's heartbeat speaks for --------------------------------
#
# A Claude Code session is a Yoda of its own, but it only runs code when it is
# used: left idle for a few minutes it would turn DEAD in everyone's eyes while
# its process is still there. So the session registers its process here when
# it starts, and this machine's every-minute heartbeat beats for every
# registered session whose process still runs. A session that ends says LEFT
# and unregisters; one whose process is gone is dropped on the next beat.


def _sessions_dir(config: Config) -> Path:
    return config.local_state / "live-sessions"


def register_session(config: Config, yoda_id: str, pid: int) -> None:
    """Let this machine's heartbeat speak for *yoda_id* while process *pid* runs."""
    if not ID_PATTERN.fullmatch(yoda_id) or len(yoda_id) > ID_MAX_LENGTH or pid <= 1:
        raise ValueError(f"cannot register session {yoda_id!r} with process {pid}")
    folder = _sessions_dir(config)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = folder / f".{yoda_id}.{os.getpid()}.tmp"
    temporary.write_text(f"{pid}\n", encoding="ascii")
    os.replace(temporary, folder / yoda_id)


def forget_session(config: Config, yoda_id: str) -> None:
    if ID_PATTERN.fullmatch(yoda_id):
        with contextlib.suppress(FileNotFoundError):
            (_sessions_dir(config) / yoda_id).unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but it exists
    return True


def live_sessions(config: Config) -> list[str]:
    """Registered sessions whose process still runs; the others are forgotten."""
    try:
        entries = sorted(os.scandir(_sessions_dir(config)), key=lambda entry: entry.name)
    except FileNotFoundError:
        return []
    live = []
    for entry in entries:
        if entry.name.startswith(".") or not ID_PATTERN.fullmatch(entry.name):
            continue
        try:
            pid = int(Path(entry.path).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            pid = 0
        if pid > 1 and _running(pid):
            live.append(entry.name)
        else:
            forget_session(config, entry.name)
    return live
