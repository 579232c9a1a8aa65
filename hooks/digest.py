"""What the prompt and session-start hooks tell the model, as plain statements of fact.

Every function here reads local files only and returns lines of text; the
hooks decide which of them are new enough to be worth a place in the context.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from datetime import datetime, timedelta

import hookkit
from coord.claims import Claim, read_claim_dir
from coord.config import format_time
from coord.scan import globs_overlap
from coord.textline import duration

# Hard ceiling of what one hook adds to the context (Claude Code cuts at 10,000).
CONTEXT_LIMIT = 2000
CUT_NOTE = "- (more than fits here; coord-check and coord-watch show everything)"


def fingerprint(value: object) -> str:
    """A short digest of any JSON-able value, to notice that something changed."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def fit(lines: list[str], limit: int = CONTEXT_LIMIT) -> str:
    """Join *lines*, dropping the tail (with a note) so the text stays under *limit*."""
    text = "\n".join(lines)
    if len(text) < limit:
        return text
    kept: list[str] = []
    size = len(CUT_NOTE) + 1
    for line in lines:
        if size + len(line) + 1 >= limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept + [CUT_NOTE])


# -- claims -----------------------------------------------------------------------------


def all_claims(session: hookkit.Session) -> list[Claim]:
    """Every readable claim in the state clone; damaged files are passed over."""
    folder = session.config.state / session.config.coord_dir / "claims"
    return [claim for found in read_claim_dir(folder) for claim in found.claims]


def describe_claim(claim: Claim, now: datetime) -> str:
    paths = f" ({', '.join(claim.paths)})" if claim.paths else ""
    left = (claim.expires_at() - now).total_seconds()
    timing = f"claimed {duration(claim.age_seconds(now))} ago, " + (
        f"{duration(left)} left of {claim.ttl_minutes} min" if left > 0 else "expired"
    )
    return hookkit.one_line(f"{claim.topic}{paths}", 120) + f", {timing}"


def holder_state(yoda: str, states: dict) -> str:
    """How a claim's holder is doing: LIVE, STALE, DEAD or LEFT and since when."""
    seen = states.get(yoda)
    if seen is None:
        return "no heartbeat seen"
    return f"{seen.state}, last heartbeat {duration(seen.age)} ago"


def is_live(yoda: str, states: dict) -> bool:
    """LIVE, or never seen at all: without a hub mirror a claim's TTL is all there is."""
    seen = states.get(yoda)
    return seen is None or seen.state == "LIVE"


def mine(session: hookkit.Session, claims: Iterable[Claim], now: datetime) -> list[Claim]:
    own = session.own_ids()
    return [claim for claim in claims if claim.yoda in own and not claim.is_expired(now)]


def others(session: hookkit.Session, claims: Iterable[Claim], now: datetime) -> list[Claim]:
    own = session.own_ids()
    return [claim for claim in claims if claim.yoda not in own and not claim.is_expired(now)]


def covering(claims: Iterable[Claim], area: str | None) -> list[Claim]:
    """Claims with a path glob inside or above *area* (a folder relative to the root).

    ``""`` is the root itself, which every path claim touches; None (not in a
    repository) touches nothing.
    """
    if area is None:
        return []
    if not area:
        return [claim for claim in claims if claim.paths]
    folder = area.strip("/") + "/**"
    return [claim for claim in claims if any(globs_overlap(glob, folder) for glob in claim.paths)]


def area_of(cwd: str, root: str | None) -> str | None:
    """*cwd* relative to *root*, "" at the root itself, None outside it."""
    if root is None:
        return None
    relative = os.path.relpath(os.path.realpath(cwd), os.path.realpath(root))
    if relative == ".":
        return ""
    if relative == ".." or relative.startswith("../"):
        return None
    return relative


class ClaimsView:
    """The claims as this session sees them, with digests to notice changes."""

    def __init__(self, claims, held, near, area, project, states, held_digest, near_digest):
        self.claims: list[Claim] = claims  # every readable claim
        self.held: list[Claim] = held  # this session's and this machine's, active
        self.near: list[Claim] = near  # other Yodas' active claims covering cwd
        self.area: str | None = area  # cwd relative to its repository's root
        self.project: str | None = project  # the repository at cwd
        self.states: dict = states  # presence of the holders
        self.held_digest = held_digest
        self.near_digest = near_digest


def claims_view(session: hookkit.Session, now: datetime, with_states: bool = False) -> ClaimsView:
    """Read the claims once: mine, and other Yodas' covering the session's cwd."""
    claims = all_claims(session)
    held = mine(session, claims, now)
    project = hookkit.repository_root(os.path.realpath(session.cwd))
    area = area_of(session.cwd, project)
    near = covering(others(session, claims, now), area)
    states = hookkit.presence(session) if (near or with_states) else {}
    held_digest = fingerprint(
        [(c.yoda, c.topic, c.paths, str(c.claimed_at), c.ttl_minutes) for c in held]
    )
    near_digest = fingerprint(
        [
            (c.yoda, c.topic, c.paths, str(c.claimed_at), getattr(states.get(c.yoda), "state", ""))
            for c in near
        ]
    )
    return ClaimsView(claims, held, near, area, project, states, held_digest, near_digest)


def my_claim_lines(session: hookkit.Session, claims: list[Claim], now: datetime) -> list[str]:
    if not claims:
        return []
    lines = [f"Claims held by this session ({session.yoda_id}) or this machine:"]
    for claim in claims[:6]:
        holder = "" if claim.yoda == session.yoda_id else f"[{claim.yoda}] "
        lines.append(f"- {holder}{describe_claim(claim, now)}")
    return lines


def other_claim_lines(title: str, claims: list[Claim], states: dict, now: datetime) -> list[str]:
    if not claims:
        return []
    lines = [title]
    for claim in claims[:8]:
        lines.append(
            f"- {claim.yoda} ({holder_state(claim.yoda, states)}): {describe_claim(claim, now)}"
        )
    if len(claims) > 8:
        lines.append(f"- and {len(claims) - 8} more claims (coord-check lists them)")
    return lines


# -- pokes and commits ------------------------------------------------------------------


def describe_poke(mirrored: hookkit.MirroredPoke, now: datetime) -> str:
    """One poke as a line of fact: who, what kind, what it says, how long ago."""
    from coord import pokes, rollcall

    poke = mirrored.poke
    age = duration((now - poke.time).total_seconds())
    text = poke.text
    if poke.kind in ("CLAIM", "RELEASE"):
        commit, topic = pokes.parse_commit_text(text)
        text = f"{topic} (commit {commit[:10]})"
    elif poke.kind == "CALL":
        call = rollcall.call_of(poke)
        if call is not None:
            text = f"roll-call {call.call_id}, {call.expect} answers wanted: {call.topic}"
    elif poke.kind == "LEFT":
        text = ""
    said = f": {hookkit.one_line(text)}" if text else ""
    return f"- {poke.yoda} {poke.kind}{said} ({age} ago)"


def new_pokes(
    pokes: list[hookkit.MirroredPoke], me: str, seen: str | None, count: int = 5
) -> tuple[str | None, list[hookkit.MirroredPoke]]:
    """Other Yodas' pokes after the one last shown (key *seen*): (new key, the last *count*)."""
    theirs = [mirrored for mirrored in pokes if mirrored.poke.yoda != me]
    if not theirs:
        return seen, []
    keys = [mirrored.key for mirrored in theirs]
    start = keys.index(seen) + 1 if seen in keys else 0
    return keys[-1], theirs[start:][-count:]


def new_commits(
    root: str, seen: str | None, count: int = 8
) -> tuple[str | None, list[hookkit.Commit]]:
    """Commits on HEAD since the one last shown (*seen*): (new HEAD, up to *count* commits)."""
    head = hookkit.head_commit(root)
    if head is not None and head == seen:
        return seen, []
    commits = hookkit.recent_commits(root, count)
    if not commits:
        return seen, []
    fresh = []
    for commit in commits:
        if commit.sha == seen:
            break
        fresh.append(commit)
    return commits[0].sha, fresh


def commit_lines(title: str, commits: list[hookkit.Commit], now: datetime) -> list[str]:
    if not commits:
        return []
    lines = [title]
    for commit in commits:
        age = duration((now - commit.time).total_seconds())
        subject = hookkit.one_line(commit.subject, 100)
        lines.append(
            f"- {commit.sha[:8]} {hookkit.one_line(commit.author, 40)}, {age} ago: {subject}"
        )
    return lines


# -- roll-calls -------------------------------------------------------------------------


def latest_pokes(session: hookkit.Session, now: datetime) -> list[hookkit.MirroredPoke]:
    """The mirror's latest pokes, reaching back as far as a roll-call can stay open."""
    from coord.rollcall import TIMEOUT_MAX_SECONDS

    return hookkit.recent_pokes(session, since=now - timedelta(seconds=TIMEOUT_MAX_SECONDS))


def open_calls(session: hookkit.Session, pokes: list[hookkit.MirroredPoke], now: datetime) -> list:
    """Roll-calls still open that this session neither made nor answered."""
    from coord import rollcall

    return rollcall.open_calls([mirrored.poke for mirrored in pokes], session.yoda_id, now)


def call_lines(calls: list, now: datetime) -> list[str]:
    if not calls:
        return []
    lines = ["Open roll-calls this session has not answered:"]
    for call in calls[:4]:
        left = duration((call.deadline - now).total_seconds())
        lines.append(
            f"- call {call.call_id} by {call.yoda}: {hookkit.one_line(call.topic, 100)},"
            f" expects {call.expect} answers, closes in {left};"
            f' answered with coord-checkin {call.call_id} "note"'
        )
    if len(calls) > 4:
        lines.append(f"- and {len(calls) - 4} more (coord-tally --open lists them)")
    return lines


def call_ids(calls: list) -> list[str]:
    return sorted(call.call_id for call in calls)


def heading(session: hookkit.Session, now: datetime, what: str) -> str:
    return f"coord {what} for Yoda {session.yoda_id} at {format_time(now)}:"
