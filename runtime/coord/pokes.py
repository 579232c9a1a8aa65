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

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from coord.config import Config, parse_time
from coord.textline import escape, unescape

KINDS = ("POKE", "HB", "CLAIM", "RELEASE", "CALL", "CHECKIN", "LEFT")
KIND_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")


@dataclass(frozen=True)
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


def parse_poke(line: str) -> Optional[Poke]:
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
