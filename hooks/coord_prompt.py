#!/usr/bin/env python3
"""UserPromptSubmit hook: what changed in the fleet since this session's last prompt.

Claude Code runs it before each prompt reaches the model. From local files
only (the hub mirror and the state clone) it tells, as plain facts, what is
new since it last spoke in this session: other Yodas' latest pokes, the latest
commits of the coordination repository and of the repository at cwd, this
session's claims, other Yodas' claims covering cwd and roll-calls this session
has not answered. When nothing changed it prints nothing. What it already said
is kept in ``<local_state>/sessions/<key>.json``.

Output: ``{"hookSpecificOutput": {"hookEventName": "UserPromptSubmit",
"additionalContext": "..."}}`` under 2,000 characters, or nothing. Exit 0 always.
"""

from __future__ import annotations

import os

import digest
import hookkit

BUDGET_SECONDS = 2.0


def pokes_news(session, pokes, seen: dict, memo: dict, now) -> list[str]:
    memo["poke"], fresh = digest.new_pokes(pokes, session.yoda_id, seen.get("poke"))
    if not fresh:
        return []
    return ["Latest pokes from other Yodas:"] + [digest.describe_poke(p, now) for p in fresh]


def commits_news(root: str, key: str, title: str, seen: dict, memo: dict, now) -> list[str]:
    memo[key], commits = digest.new_commits(root, seen.get(key))
    return digest.commit_lines(title, commits, now)


def claims_news(session, view, seen: dict, memo: dict, now) -> list[str]:
    lines = []
    memo["mine"] = view.held_digest
    if memo["mine"] != seen.get("mine"):
        if view.held:
            lines += digest.my_claim_lines(session, view.held, now)
        elif "mine" in seen:
            lines.append(f"This session ({session.yoda_id}) holds no claims now.")
    memo["near"] = view.near_digest
    if memo["near"] != seen.get("near") and view.near:
        where = f"{view.area}/" if view.area else "this repository"
        title = f"Claims by other Yodas covering {where}:"
        lines += digest.other_claim_lines(title, view.near, view.states, now)
    return lines


def calls_news(session, pokes, seen: dict, memo: dict, now) -> list[str]:
    calls = digest.open_calls(session, pokes, now)
    memo["calls"] = digest.call_ids(calls)
    return digest.call_lines(calls, now) if memo["calls"] != seen.get("calls") else []


def build(event: dict) -> str | None:
    session = hookkit.open_session(event)
    if session is None or not hookkit.is_set_up(session):
        return None
    memory = hookkit.Memory(session)
    seen = memory.load()
    memo = dict(seen)
    now = session.config.now()
    attempt = hookkit.attempt
    lines: list[str] = []

    # Most pressing first: when the text must be cut, old commits go first.
    pokes = attempt(digest.latest_pokes, session, now, default=[])
    lines += attempt(calls_news, session, pokes, seen, memo, now, default=[])
    view = attempt(digest.claims_view, session, now)
    if view is not None:
        lines += claims_news(session, view, seen, memo, now)
    lines += attempt(pokes_news, session, pokes, seen, memo, now, default=[])

    state_root = os.path.realpath(session.config.state)
    if hookkit.repository_root(state_root) == state_root:
        title = "Latest commits in the coordination repository:"
        lines += attempt(commits_news, state_root, "coord_head", title, seen, memo, now, default=[])
    if view is not None and view.project is not None and view.project != state_root:
        key = "head:" + digest.fingerprint(view.project)
        title = f"Latest commits in {view.project}:"
        lines += attempt(commits_news, view.project, key, title, seen, memo, now, default=[])

    attempt(hookkit.keep_alive, session)
    if memo != seen:
        memory.save(memo)
    if not lines:
        return None
    text = digest.fit([digest.heading(session, now, "news")] + lines)
    return hookkit.answer("UserPromptSubmit", additionalContext=text)


if __name__ == "__main__":
    hookkit.run(build, BUDGET_SECONDS)
