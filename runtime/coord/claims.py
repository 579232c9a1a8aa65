"""Claims and the event log: their file formats, parsed back exactly.

A Yoda's claims live in ``claims/<yoda-id>.md``, which only that Yoda writes::

    # Claims of mac-1

    ## auth refactor
    - path: src/auth/**
    - path: tests/test_auth.py
    - ttl: 90 min
    - claimed: 2026-12-03T16:47:05Z
    - host: mac-1
    - note: token refresh first

Each ``##`` heading opens one claim; the topic, paths and note are stored with
:mod:`coord.textline` escapes so that any text fits on its line. ``log.md``
holds one event per line::

    - 2026-12-03T16:47:05Z mac-1 CLAIM 3f2a9c1e auth refactor

(time, Yoda, event, an event id unique to the line, escaped text). The full
description is in ``docs/protocols/claim.md``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from coord.config import format_time, parse_time, validate_id
from coord.errors import UsageError
from coord.record import record
from coord.textline import escape, unescape

TTL_MAX_MINUTES = 7 * 24 * 60
TOPIC_MAX_CHARACTERS = 20_000
NOTE_MAX_CHARACTERS = 20_000
PATHS_MAX = 100


class ClaimFileError(ValueError):
    """A claim file that does not follow the format (edited by hand, damaged)."""


@record
class Claim:
    yoda: str
    topic: str
    ttl_minutes: int
    claimed_at: datetime
    host: str
    paths: tuple[str, ...] = ()
    note: str = ""

    def expires_at(self) -> datetime:
        return self.claimed_at + timedelta(minutes=self.ttl_minutes)

    def age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.claimed_at).total_seconds())

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at()

    def is_stale(self, now: datetime) -> bool:
        return now >= self.claimed_at + timedelta(minutes=2 * self.ttl_minutes)


def parse_ttl(text: str) -> int:
    """A TTL is a whole number of minutes from 1 to a week."""
    value = text.strip()
    if not value.isdigit() or not value.isascii():
        raise UsageError(f"TTL must be a whole number of minutes, not {text!r}")
    minutes = int(value)
    if not 1 <= minutes <= TTL_MAX_MINUTES:
        raise UsageError(f"TTL must be from 1 to {TTL_MAX_MINUTES} minutes, not {minutes}")
    return minutes


def check_topic(topic: str) -> str:
    if not topic.strip():
        raise UsageError("the topic is empty")
    if len(topic) > TOPIC_MAX_CHARACTERS:
        raise UsageError(f"the topic is {len(topic)} characters; at most {TOPIC_MAX_CHARACTERS}")
    return topic


def check_note(note: str) -> str:
    if len(note) > NOTE_MAX_CHARACTERS:
        raise UsageError(f"the note is {len(note)} characters; at most {NOTE_MAX_CHARACTERS}")
    return note


def check_path_glob(glob: str) -> str:
    """Path globs are relative to the repository root, with no way out of it."""
    cleaned = glob.strip()
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    if not cleaned:
        raise UsageError("a path glob is empty")
    if cleaned.startswith("/") or ".." in cleaned.split("/"):
        raise UsageError(f"path {glob!r} must be relative to the repository root, without '..'")
    if any(ord(char) < 0x20 for char in cleaned):
        raise UsageError(f"path {glob!r} contains a control character")
    return cleaned


def render_claims(yoda: str, claims: list[Claim]) -> str:
    lines = [f"# Claims of {yoda}", ""]
    for claim in claims:
        lines.append(f"## {escape(claim.topic)}")
        lines.extend(f"- path: {escape(path)}" for path in claim.paths)
        lines.append(f"- ttl: {claim.ttl_minutes} min")
        lines.append(f"- claimed: {format_time(claim.claimed_at)}")
        lines.append(f"- host: {escape(claim.host)}")
        if claim.note:
            lines.append(f"- note: {escape(claim.note)}")
        lines.append("")
    return "\n".join(lines)


def parse_claims(yoda: str, text: str) -> list[Claim]:
    """Parse a claim file, raising ClaimFileError on anything out of shape."""
    lines = text.split("\n")
    if not lines or lines[0] != f"# Claims of {yoda}":
        raise ClaimFileError(f"the first line is not '# Claims of {yoda}'")

    claims: list[Claim] = []
    current: dict | None = None

    def finish(number: int) -> None:
        if current is None:
            return
        missing = [key for key in ("ttl", "claimed", "host") if key not in current]
        if missing:
            raise ClaimFileError(f"the claim ending at line {number} has no {missing[0]}")
        claims.append(
            Claim(
                yoda=yoda,
                topic=current["topic"],
                ttl_minutes=current["ttl"],
                claimed_at=current["claimed"],
                host=current["host"],
                paths=tuple(current["paths"]),
                note=current.get("note", ""),
            )
        )

    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if line.startswith("## "):
            finish(number - 1)
            current = {"topic": unescape(line[3:]), "paths": []}
            continue
        if current is None or not line.startswith("- ") or ": " not in line:
            raise ClaimFileError(f"line {number} is not part of a claim: {line[:60]!r}")
        key, value = line[2:].split(": ", 1)
        try:
            if key == "path":
                current["paths"].append(unescape(value))
            elif key in current:
                raise ClaimFileError(f"line {number} repeats '{key}'")
            elif key == "ttl" and value.endswith(" min"):
                current["ttl"] = parse_ttl(value[: -len(" min")])
            elif key == "claimed":
                current["claimed"] = parse_time(value)
            elif key in ("host", "note"):
                current[key] = unescape(value)
            else:
                raise ClaimFileError(f"line {number} has an unknown entry {key!r}")
        except (ValueError, UsageError) as error:
            raise ClaimFileError(f"line {number}: {error}") from None
    finish(len(lines))
    return claims


@record
class ClaimFile:
    """What reading one ``claims/*.md`` file gave: claims, or why it could not."""

    yoda: str
    path: Path
    claims: list[Claim]
    error: str | None = None


def read_claim_dir(claims_dir: Path) -> list[ClaimFile]:
    """Read every claim file; a damaged one is reported, never raised."""
    results = []
    try:
        entries = sorted(claims_dir.iterdir())
    except FileNotFoundError:
        return []
    for path in entries:
        if path.suffix != ".md" or not path.is_file():
            continue
        yoda = path.stem
        try:
            validate_id(yoda)
            text = path.read_text(encoding="utf-8")
            results.append(ClaimFile(yoda, path, parse_claims(yoda, text)))
        except (OSError, UnicodeDecodeError, ClaimFileError, UsageError) as error:
            results.append(ClaimFile(yoda, path, [], f"unreadable: {error}"))
    return results


@record
class LogEvent:
    time: datetime
    yoda: str
    kind: str
    event_id: str
    text: str


LOG_HEADER = "# Coordination log\n\nOne event per line: time, Yoda, event, event id, text.\n\n"


def new_event_id() -> str:
    # The kernel's random bytes, as secrets.token_hex uses, without importing
    # secrets (and random, hashlib, base64 with it) into every command.
    return os.urandom(4).hex()


def format_event(event: LogEvent) -> str:
    return (
        f"- {format_time(event.time)} {event.yoda} {event.kind} {event.event_id}"
        f" {escape(event.text)}\n"
    )


def parse_event(line: str) -> LogEvent | None:
    """Parse one log line; None for headers, blank lines and anything else."""
    if not line.startswith("- "):
        return None
    parts = line[2:].rstrip("\n").split(" ", 4)
    if len(parts) < 4:
        return None
    try:
        moment = parse_time(parts[0])
    except ValueError:
        return None
    text = unescape(parts[4]) if len(parts) == 5 else ""
    return LogEvent(moment, parts[1], parts[2], parts[3], text)
