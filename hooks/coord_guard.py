#!/usr/bin/env python3
"""PreToolUse hook on Edit, Write, MultiEdit and NotebookEdit: a guard on claimed paths.

The file about to be written (``tool_input.file_path`` or ``notebook_path``,
resolved against the session's cwd) is made relative to the root of the
repository that holds it and compared with every other Yoda's active path
claims in the state clone. When it falls under a claim whose holder is live,
the answer depends on the mode, ``COORD_GUARD`` or ``guard`` in the coord
configuration file:

* ``ask`` (default): ``permissionDecision: "ask"``, with the holder, the claim
  and its age as the reason Claude Code shows to the user;
* ``warn``: no decision (Claude Code's own permission rules apply), the same
  text as ``additionalContext`` for the model and ``systemMessage`` for the user;
* ``off``: nothing.

A holder counts as live when the mirror's presence snapshot says LIVE, or
has no record of it at all (no hub mirror on this machine). Claims of STALE,
DEAD or LEFT holders only add a note to the context. Claims of this session
and of this machine's own id never trigger. Exit 0 always.
"""

from __future__ import annotations

import os

import digest
import hookkit
from coord.claude import guard_mode
from coord.scan import path_under
from coord.textline import duration

TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
BUDGET_SECONDS = 2.0


def target(event: dict, cwd: str) -> str | None:
    """The absolute, symlink-free path of the file the tool is about to write."""
    tool_input = event.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    path = tool_input.get("file_path") or tool_input.get("notebook_path")
    if not isinstance(path, str) or not path or "\0" in path:
        return None
    return os.path.realpath(os.path.join(cwd, os.path.expanduser(path)))


def describe(relative: str, hits: list, states: dict, now) -> str:
    parts = []
    for claim, glob in hits[:3]:
        parts.append(
            f"{claim.yoda} holds {hookkit.one_line(glob, 80)} in the claim"
            f" {hookkit.one_line(claim.topic, 80)!r}"
            f" (claimed {duration(claim.age_seconds(now))} ago,"
            f" TTL {claim.ttl_minutes} min; {digest.holder_state(claim.yoda, states)})"
        )
    more = f"; {len(hits) - 3} more claims" if len(hits) > 3 else ""
    where = hookkit.one_line(relative, 200)
    return f"{where} is claimed by another Yoda: " + "; ".join(parts) + more + "."


def build(event: dict) -> str | None:
    if event.get("tool_name") not in TOOLS:
        return None
    session = hookkit.open_session(event)
    if session is None:
        return None
    mode = guard_mode(os.environ, session.settings)
    if mode == "off" or not hookkit.is_set_up(session):
        return None
    path = target(event, session.cwd)
    root = hookkit.repository_root(os.path.dirname(path)) if path else None
    if root is None:
        return None
    hookkit.attempt(hookkit.keep_alive, session)
    relative = os.path.relpath(path, root)
    now = session.config.now()
    hits = []
    for claim in digest.others(session, digest.all_claims(session), now):
        glob = path_under(relative, claim.paths)
        if glob is not None:
            hits.append((claim, glob))
    if not hits:
        return None

    states = hookkit.presence(session)
    live = [hit for hit in hits if digest.is_live(hit[0].yoda, states)]
    if not live:
        note = describe(relative, hits, states, now) + " None of its holders is live."
        return hookkit.answer("PreToolUse", additionalContext=note)
    reason = describe(relative, live, states, now)
    if mode == "ask":
        return hookkit.answer(
            "PreToolUse", permissionDecision="ask", permissionDecisionReason=reason
        )
    return hookkit.answer("PreToolUse", additionalContext=reason, systemMessage=reason)


if __name__ == "__main__":
    hookkit.run(build, BUDGET_SECONDS)
