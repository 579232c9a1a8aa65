"""The collision scan: is somebody else already on this topic or these paths?

Two sources are compared with a new claim:

* other Yodas' active claims: a topic keyword in common, or path globs that
  overlap;
* recent commits by others on every remote branch: a message that shares a
  keyword with the topic, or a changed file under one of the claim's globs.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from coord.claims import Claim
from coord.record import record

# Only type checkers read this import: the guard hook uses the path functions
# here and should not pay for loading the git transport.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from coord.gitrepo import Repo

# Words too common to say that two topics are about the same thing.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either
    else few for from further had has have having he her here hers him his how i if in into is
    it its itself just let me more most my no nor not now of off on once only or other our out
    over own same she should so some such than that the their them then there these they this
    those through to too under until up upon very via was we were what when where which while
    who whom why will with within without would yet you your
    """.split()
)

_WORD = re.compile(r"\w+")
_WILDCARDS = set("*?[")


def keywords(text: str) -> set[str]:
    """Significant words of *text*: case folded, stop words and single letters dropped."""
    words = {word.casefold() for word in _WORD.findall(text)}
    return {word for word in words if len(word) > 1 and word not in STOP_WORDS}


def _parts(pattern: str) -> list[str]:
    return [part for part in pattern.strip("/").split("/") if part and part != "."]


def _static_prefix(parts: list[str]) -> list[str]:
    prefix = []
    for part in parts:
        if _WILDCARDS & set(part):
            break
        prefix.append(part)
    return prefix


def _covers_below(pattern_parts: list[str], other_parts: list[str]) -> bool:
    """Does *pattern* claim a whole folder that lies above (or at) *other*?"""
    static = _static_prefix(pattern_parts)
    rest = pattern_parts[len(static) :]
    # A plain folder ("src/auth") or a folder followed by "**" claims all below it.
    if rest and rest != ["**"]:
        return False
    return other_parts[: len(static)] == static


def globs_overlap(first: str, second: str) -> bool:
    """True when two path globs can name a common file.

    Either pattern matches the other as a path, or one names a folder (plain,
    or followed by ``**``) above what the other names.
    """
    a, b = "/".join(_parts(first)), "/".join(_parts(second))
    if not a or not b:
        return True
    if fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a):
        return True
    return _covers_below(_parts(a), _parts(b)) or _covers_below(_parts(b), _parts(a))


def path_under(path: str, globs: Iterable[str]) -> str | None:
    """The first glob that covers the file *path*, if any."""
    file_parts = _parts(path)
    for glob in globs:
        glob_parts = _parts(glob)
        if fnmatch.fnmatchcase("/".join(file_parts), "/".join(glob_parts)):
            return glob
        if _covers_below(glob_parts, file_parts):
            return glob
    return None


@record
class Match:
    """One reason a new claim collides, worded for the person who typed it."""

    who: str
    what: str
    when: datetime
    why: str


def claim_matches(
    topic: str, paths: list[str], others: Iterable[Claim], now: datetime
) -> list[Match]:
    wanted = keywords(topic)
    found = []
    for claim in others:
        if claim.is_expired(now):
            continue
        common = sorted(wanted & keywords(claim.topic))
        overlapping = [
            f"{mine} ~ {theirs}"
            for mine in paths
            for theirs in claim.paths
            if globs_overlap(mine, theirs)
        ]
        reasons = []
        if common:
            reasons.append("keywords " + ", ".join(common))
        if overlapping:
            reasons.append("paths " + ", ".join(overlapping))
        if reasons:
            found.append(
                Match(claim.yoda, f"claim {claim.topic!r}", claim.claimed_at, "; ".join(reasons))
            )
    return found


_FIELD = "\x1f"
_RECORD = "\x1e"


def commit_matches(
    repo: Repo,
    topic: str,
    paths: list[str],
    me: str,
    coord_dir: str,
    since: datetime,
) -> list[Match]:
    """Commits by others since *since* on any remote branch that touch our topic or paths.

    A commit is ours when its author name is our Yoda id or it carries a
    ``Coord-Yoda: <id>`` trailer naming us. Commits that change only the
    coordination folder are coord's own bookkeeping and are left out: the
    claims they carry are compared above.
    """
    cutoff = int(since.timestamp())
    output = repo.out(
        "log",
        "--remotes",
        f"--since={cutoff}",
        "--no-merges",
        "--name-only",
        "-z",
        f"--format={_RECORD}%H{_FIELD}%an{_FIELD}%at{_FIELD}%(trailers:key=Coord-Yoda,valueonly,separator=%x2c){_FIELD}%s{_FIELD}%b{_FIELD}",
    )
    wanted = keywords(topic)
    own_prefix = coord_dir.rstrip("/") + "/"
    found = []
    seen = set()
    for entry in output.split(_RECORD)[1:]:
        fields = entry.split(_FIELD)
        if len(fields) < 7:
            continue
        sha, author, stamp, trailer, subject, body, names = fields[:7]
        if sha in seen:
            continue
        seen.add(sha)
        if author == me or me in [value.strip() for value in trailer.split(",")]:
            continue
        files = [name.strip("\n") for name in names.split("\0") if name.strip("\n")]
        if files and all(name.startswith(own_prefix) for name in files):
            continue
        when = datetime.fromtimestamp(int(stamp), timezone.utc)
        if when < since:
            continue
        reasons = []
        common = sorted(wanted & keywords(subject + "\n" + body))
        if common:
            reasons.append("keywords " + ", ".join(common))
        touched = [f"{name} ~ {glob}" for name in files if (glob := path_under(name, paths))]
        if touched:
            reasons.append("files " + ", ".join(touched[:5]))
        if reasons:
            found.append(Match(author, f"commit {sha[:10]} {subject!r}", when, "; ".join(reasons)))
    return found


def default_since(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)
