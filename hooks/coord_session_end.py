#!/usr/bin/env python3
"""SessionEnd hook: tell the hub this session left, so nobody takes it for dead.

Runs ``coord-heartbeat --left`` as the session's Yoda and waits for it at most
:data:`WAIT_SECONDS`; Claude Code may end the hook sooner, so the heartbeat
runs detached and finishes on its own. The session's memory file is removed,
and so is its registration with this machine's heartbeat.
Nothing is printed; exit 0 always.
"""

from __future__ import annotations

import contextlib
import subprocess

import hookkit
from coord import presence

WAIT_SECONDS = 6.0
BUDGET_SECONDS = 8.0


def build(event: dict) -> str | None:
    session = hookkit.open_session(event)
    if session is None:
        return None
    hookkit.Memory(session).forget()
    hookkit.attempt(presence.forget_session, session.config, session.yoda_id)
    if not hookkit.is_set_up(session):
        return None
    child = hookkit.spawn(session, "heartbeat", "--left")
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=WAIT_SECONDS)
    return None


if __name__ == "__main__":
    hookkit.run(build, BUDGET_SECONDS)
