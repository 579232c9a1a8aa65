"""Roll-calls: one Yoda asks, the others answer, everybody can count.

A roll-call is a CALL poke; its text holds, separated by single spaces, the
call id (8 lowercase hex digits), the number of answers expected from other
Yodas, the deadline (UTC, to the second) and the topic, which runs to the end
of the text and may hold anything::

    2026-12-03T16:47:05.123Z mac-1 CALL 3f2a9c1e 2 2026-12-03T16:57:05Z deploy freeze?

An answer is a CHECKIN poke: the call id, a space, and the note (possibly
empty)::

    2026-12-03T16:48:00.002Z mac-2 CHECKIN 3f2a9c1e frozen on my side

The full description is in ``docs/protocols/roll-call.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from coord.config import Config, format_time, parse_time
from coord.errors import UsageError
from coord.pokes import Poke, parse_poke
from coord.record import record

CALL_ID = re.compile(r"[0-9a-f]{8}")
EXPECT_MAX = 1000
TIMEOUT_MAX_SECONDS = 24 * 3600
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(s|m|h)?")
_UNITS = {"s": 1, "m": 60, "h": 3600, None: 1}


@record
class Call:
    call_id: str
    yoda: str  # who called
    time: datetime  # when the CALL poke was written
    expect: int
    deadline: datetime
    topic: str


@record
class Checkin:
    call_id: str
    yoda: str
    time: datetime
    note: str


class Attendance:
    """One call and its answers: the last note of each Yoda, in the order they first answered."""

    def __init__(self, call: Call):
        self.call = call
        self.answers: dict[str, Checkin] = {}

    def others(self) -> list[Checkin]:
        """Answers that count: everyone's but the caller's own."""
        return [answer for yoda, answer in self.answers.items() if yoda != self.call.yoda]

    def quorum(self) -> bool:
        return len(self.others()) >= self.call.expect

    def status(self, now: datetime) -> str:
        """``quorum`` once enough Yodas answered, else ``open`` until the deadline, then
        ``closed``."""
        if self.quorum():
            return "quorum"
        return "open" if now < self.call.deadline else "closed"


def new_call_id() -> str:
    # The kernel's random bytes, as secrets.token_hex uses, without importing
    # secrets (and random, hashlib, base64 with it) into every command.
    return os.urandom(4).hex()


def check_call_id(text: str) -> str:
    if not CALL_ID.fullmatch(text):
        raise UsageError(f"a call id is 8 lowercase hex digits, such as 3f2a9c1e, not {text!r}")
    return text


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``10m``, ``1.5h`` or a bare number of seconds; at most a day."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise UsageError(f"a timeout is a number with s, m or h, such as 10m, not {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= TIMEOUT_MAX_SECONDS:
        raise UsageError(f"a timeout must be above 0 and at most 24h, not {text!r}")
    return seconds


def format_call_text(call_id: str, expect: int, deadline: datetime, topic: str) -> str:
    return f"{check_call_id(call_id)} {int(expect)} {format_time(deadline)} {topic}"


def parse_call_text(text: str) -> tuple[str, int, datetime, str] | None:
    """(call id, expected answers, deadline, topic), or None for anything else."""
    parts = text.split(" ", 3)
    if len(parts) < 3 or not CALL_ID.fullmatch(parts[0]) or not parts[1].isdigit():
        return None
    if not parts[1].isascii():
        return None
    try:
        deadline = parse_time(parts[2])
    except ValueError:
        return None
    return parts[0], int(parts[1]), deadline, parts[3] if len(parts) == 4 else ""


def format_checkin_text(call_id: str, note: str) -> str:
    return f"{check_call_id(call_id)} {note}"


def parse_checkin_text(text: str) -> tuple[str, str] | None:
    """(call id, note), or None."""
    call_id, _, note = text.partition(" ")
    if not CALL_ID.fullmatch(call_id):
        return None
    return call_id, note


def call_of(poke: Poke) -> Call | None:
    if poke.kind != "CALL":
        return None
    parsed = parse_call_text(poke.text)
    if parsed is None:
        return None
    call_id, expect, deadline, topic = parsed
    return Call(call_id, poke.yoda, poke.time, expect, deadline, topic)


def checkin_of(poke: Poke) -> Checkin | None:
    if poke.kind != "CHECKIN":
        return None
    parsed = parse_checkin_text(poke.text)
    if parsed is None:
        return None
    return Checkin(parsed[0], poke.yoda, poke.time, parsed[1])


def attendance(pokes: Iterable[Poke]) -> list[Attendance]:
    """Every call among *pokes*, in order, with the answers that follow it.

    A CHECKIN for a call not (yet) seen is ignored; a repeated call id keeps
    the first call.
    """
    calls: dict[str, Attendance] = {}
    for poke in pokes:
        call = call_of(poke)
        if call is not None:
            calls.setdefault(call.call_id, Attendance(call))
            continue
        checkin = checkin_of(poke)
        if checkin is not None and checkin.call_id in calls:
            answers = calls[checkin.call_id].answers
            answers[checkin.yoda] = checkin
    return list(calls.values())


def open_calls(pokes: Iterable[Poke], me: str, now: datetime) -> list[Call]:
    """Calls before their deadline that *me* did not make and has not answered, oldest first."""
    return [
        entry.call
        for entry in attendance(pokes)
        if now < entry.call.deadline and entry.call.yoda != me and me not in entry.answers
    ]


def deadline_after(now: datetime, seconds: float) -> datetime:
    # Whole seconds: the deadline is written to the second, so round up to
    # never promise less time than asked.
    return now.replace(microsecond=0) + timedelta(seconds=int(seconds) + 1)


def fetch(config: Config) -> list[Attendance]:
    """Every call on the hub with its answers (one call to the hub, which sends only
    CALL and CHECKIN lines)."""
    # Imported here: hooks import this module and must never load the transport.
    from coord import hub

    found = []
    for line in hub.select_kinds(config, ["CALL", "CHECKIN"]):
        poke = parse_poke(line.decode("utf-8", errors="replace"))
        if poke is not None:
            found.append(poke)
    return attendance(found)
