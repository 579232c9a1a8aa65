#!/usr/bin/env python3
"""SessionStart hook: this session's Yoda id, a sync, and a short survey of the fleet.

1. The session's Yoda id (see ``coord.claude.session_yoda_id``) is written as
   ``export YODA_ID=...`` to ``$CLAUDE_ENV_FILE`` when Claude Code provides
   one, so every coord command the session runs acts as this session.
2. ``coord-sync`` and ``coord-heartbeat`` run side by side as this session,
   for at most :data:`WAIT_SECONDS`; whatever is still running then carries on
   in the background and the survey reads what is already there.
3. The survey, as ``additionalContext``: who is live, what is claimed, and
   roll-calls this session has not answered. What it showed is remembered so
   that the next prompt only adds what changed; after a compaction or a clear
   the next prompt repeats the latest pokes and commits.

Nothing is printed where coord is not set up (no state clone, no hub mirror).
Exit 0 always.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time

import digest
import hookkit
from coord import presence

WAIT_SECONDS = 8.0
BUDGET_SECONDS = 12.0
# Session memories older than this belong to sessions that never said goodbye.
FORGET_AFTER_SECONDS = 7 * 24 * 3600


def export_identity(session: hookkit.Session) -> bool:
    """Append ``export YODA_ID=<id>`` to Claude Code's env file, once."""
    path = os.environ.get("CLAUDE_ENV_FILE")
    if not path:
        return False
    line = f"export YODA_ID={shlex.quote(session.yoda_id)}\n"
    try:
        with open(path, encoding="utf-8") as handle:
            if line in handle.read().splitlines(keepends=True):
                return True
    except FileNotFoundError:
        pass
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
    return True


def forget_old_sessions(session: hookkit.Session) -> None:
    folder = session.config.local_state / "sessions"
    cutoff = time.time() - FORGET_AFTER_SECONDS
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:
            pass


def register(session: hookkit.Session) -> None:
    """Let this machine's heartbeat timer keep the session live while Claude Code runs."""
    pid = hookkit.claude_pid()
    if pid is not None and session.yoda_id != session.host_id:
        presence.register_session(session.config, session.yoda_id, pid)


def wait_all(children: list, seconds: float) -> list[int | None]:
    """Exit codes of *children*, None for any still running after *seconds* in all."""
    deadline = time.monotonic() + seconds
    codes = []
    for child in children:
        try:
            codes.append(child.wait(timeout=max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            codes.append(None)
    return codes


def sync_line(code: int | None, said: str) -> str:
    """What became of the sync, from its exit code and its warnings."""
    warnings = [line for line in said.splitlines() if ": warning: " in line]
    if code == 0 and warnings:
        warning = hookkit.one_line(warnings[0].split(": warning: ", 1)[1], 200)
        return (
            f"The sync of the state clone did not complete ({warning});"
            " the claims below are from the previous sync."
        )
    if code == 0:
        return "The state clone was synced with the coordination repository just now."
    if code is None:
        return (
            f"The sync of the state clone was still running after {WAIT_SECONDS:.0f} s;"
            " the claims below are from the previous sync."
        )
    return (
        f"The sync of the state clone failed (coord-sync exit {code});"
        " the claims below are from the previous sync."
    )


def live_lines(states: dict, me: str) -> list[str]:
    """Who else is live, and on what (their heartbeats carry their claim topics)."""
    if not states:
        return ["No presence snapshot from the hub mirror on this machine."]
    live = sorted(
        (seen.age, yoda) for yoda, seen in states.items() if seen.state == "LIVE" and yoda != me
    )
    if not live:
        return ["No other Yoda is live."]
    names = []
    for _, yoda in live[:12]:
        doing = ", ".join(states[yoda].doing)
        names.append(f"{yoda} ({hookkit.one_line(doing, 60)})" if doing else f"{yoda} (idle)")
    more = f" and {len(live) - 12} more" if len(live) > 12 else ""
    return [f"Live Yodas ({len(live)}): {'; '.join(names)}{more}."]


def build(event: dict) -> str | None:
    session = hookkit.open_session(event)
    if session is None or not hookkit.is_set_up(session):
        return None
    exported = hookkit.attempt(export_identity, session, default=False)
    hookkit.attempt(forget_old_sessions, session)
    hookkit.attempt(register, session)
    with tempfile.TemporaryFile() as said:
        children = [
            hookkit.spawn(session, "sync", stderr=said),
            hookkit.spawn(session, "heartbeat"),
        ]
        hookkit.mark_beat(session)
        sync_code = wait_all(children, WAIT_SECONDS)[0]
        said.seek(0)
        sync_said = said.read(64 * 1024).decode("utf-8", errors="replace")

    now = session.config.now()
    view = digest.claims_view(session, now, with_states=True)
    calls = hookkit.attempt(digest.open_calls, session, digest.latest_pokes(session, now), now)
    calls = calls or []
    if exported:
        where = "coord commands run in this session use it"
    else:
        where = "coord commands act as this session only where YODA_ID is set to it"
    lines = [
        digest.heading(session, now, "survey"),
        f"This session's Yoda id is {session.yoda_id} (this machine's is {session.host_id});"
        f" {where}.",
        sync_line(sync_code, sync_said),
    ]
    lines += live_lines(view.states, session.yoda_id)
    lines += digest.my_claim_lines(session, view.held, now)
    active = digest.others(session, view.claims, now)
    lines += digest.other_claim_lines("Active claims of other Yodas:", active, view.states, now)
    if not view.held and not active:
        lines.append("No active claims.")
    lines += digest.call_lines(calls, now)

    # What the model now knows; the next prompt only adds what changes.
    memory = hookkit.Memory(session)
    memo = {"mine": view.held_digest, "near": view.near_digest, "calls": digest.call_ids(calls)}
    memory.save(memo)
    return hookkit.answer("SessionStart", additionalContext=digest.fit(lines))


if __name__ == "__main__":
    hookkit.run(build, BUDGET_SECONDS)
