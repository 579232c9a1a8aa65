"""The guard: writing a file under another live Yoda's path claim asks first."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def fleet(team, claude_code, project):
    """alice claims src/auth/**; bob's Claude Code works on the project."""
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "auth refactor", "90", "--paths", "src/auth/**", "docs/auth.md")
    bob.ok("sync")
    claude = claude_code(bob)
    claude.cwd = project
    return claude


def _edit(claude, path, tool="Edit", key="file_path", **kwargs):
    run = claude.run(
        "PreToolUse",
        tool_name=tool,
        tool_input={key: str(path), "old_string": "a", "new_string": "b"},
        tool_use_id="toolu_01",
        **kwargs,
    )
    assert run.code == 0 and run.stderr == ""
    return run


def test_a_path_under_a_live_claim_asks_with_the_reason(fleet, project):
    fleet.seen(alice=20)

    run = _edit(fleet, project / "src/auth/login.py")

    document = run.answer()
    assert list(document) == ["hookSpecificOutput"]
    specific = document["hookSpecificOutput"]
    assert specific["hookEventName"] == "PreToolUse"
    assert specific["permissionDecision"] == "ask"
    reason = specific["permissionDecisionReason"]
    assert reason.startswith(
        "src/auth/login.py is claimed by another Yoda: alice holds src/auth/**"
    )
    assert "'auth refactor'" in reason and re.search(r"claimed \d+ s ago, TTL 90 min", reason)
    assert re.search(r"LIVE, last heartbeat 2\d s ago", reason)


@pytest.mark.parametrize(
    "tool, key, path",
    [
        ("Write", "file_path", "src/auth/new_module.py"),
        ("MultiEdit", "file_path", "./src/auth/../auth/login.py"),
        ("NotebookEdit", "notebook_path", "docs/auth.md"),
    ],
)
def test_every_writing_tool_and_relative_paths(fleet, project, tool, key, path):
    run = _edit(fleet, path, tool=tool, key=key)

    assert run.answer()["hookSpecificOutput"]["permissionDecision"] == "ask"
    assert "no heartbeat seen" in run.answer()["hookSpecificOutput"]["permissionDecisionReason"]


def test_the_file_counts_not_the_working_folder(fleet, project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    from_elsewhere = _edit(fleet, project / "src/auth/login.py", cwd=elsewhere)
    beside_the_claim = _edit(fleet, project / "src/app.py", cwd=project / "src/auth")

    assert from_elsewhere.answer()["hookSpecificOutput"]["permissionDecision"] == "ask"
    assert beside_the_claim.quiet()


def test_paths_outside_every_claim_and_other_tools_pass(fleet, project, tmp_path):
    outside_repo = tmp_path / "scratch.txt"

    assert _edit(fleet, project / "src/app.py").quiet()
    assert _edit(fleet, project / "README.md", tool="Write").quiet()
    assert _edit(fleet, outside_repo).quiet()
    assert _edit(fleet, project / "src/auth/login.py", tool="Bash").quiet()


def test_my_own_claims_never_trigger(team, claude_code, project):
    bob = team.yoda("bob")
    bob.ok("claim", "auth refactor", "90", "--paths", "src/auth/**")
    claude = claude_code(bob)
    claude.cwd = project

    assert _edit(claude, project / "src/auth/login.py").quiet()


def test_holders_that_are_not_live_only_get_a_note(fleet, project):
    fleet.seen(alice=3600)

    run = _edit(fleet, project / "src/auth/login.py")

    specific = run.answer()["hookSpecificOutput"]
    assert "permissionDecision" not in specific
    assert "DEAD, last heartbeat 60 min ago" in specific["additionalContext"]
    assert specific["additionalContext"].endswith("None of its holders is live.")


def test_expired_claims_do_not_count(fleet, project):
    later = {"COORD_NOW": "2099-01-01T00:00:00Z"}

    assert _edit(fleet, project / "src/auth/login.py", env=later).quiet()


def test_warn_mode_tells_without_deciding(fleet, project):
    fleet.seen(alice=5)

    run = _edit(fleet, project / "src/auth/login.py", env={"COORD_GUARD": "warn"})

    document = run.answer()
    specific = document["hookSpecificOutput"]
    assert "permissionDecision" not in specific
    assert "alice holds src/auth/**" in specific["additionalContext"]
    assert document["systemMessage"] == specific["additionalContext"]


def test_modes_from_the_config_file_and_off(fleet, project):
    config = fleet.yoda.home / ".config" / "coord" / "config"
    config.parent.mkdir(parents=True)
    config.write_text("[coord]\nguard = off\n")
    off = _edit(fleet, project / "src/auth/login.py")
    config.write_text("[coord]\nguard = warn\n")
    warned = _edit(fleet, project / "src/auth/login.py")
    forced = _edit(fleet, project / "src/auth/login.py", env={"COORD_GUARD": "ask"})

    assert off.quiet()
    assert "permissionDecision" not in warned.answer()["hookSpecificOutput"]
    assert forced.answer()["hookSpecificOutput"]["permissionDecision"] == "ask"
