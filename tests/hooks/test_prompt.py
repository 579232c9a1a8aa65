"""The prompt hook: what changed in the fleet, before each prompt, from local files only."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from claudecode import poke
from coord.pokes import Poke, format_poke, mirror_path
from coord.rollcall import format_call_text, format_checkin_text
from support.yodas import BIN, PYTHON, git


def _news(claude, **kwargs):
    run = claude.run("UserPromptSubmit", prompt="what next?", **kwargs)
    assert run.code == 0 and run.stderr == ""
    return run


def test_a_machine_without_coord_hears_nothing(team, claude_code):
    bob = team.yoda("bob")
    shutil.rmtree(bob.state)
    claude = claude_code(bob)

    run = claude.run("UserPromptSubmit", prompt="hello", cwd=bob.home)

    assert run.quiet()
    assert not (bob.home / ".local").exists(), "a hook wrote state on a machine without coord"


GARBLED = [
    b"",
    b"{",
    b"not json at all",
    b"[]",
    b'"a string"',
    b"null",
    b'{"session_id": 42, "cwd": "/"}',
    b'{"cwd": "/tmp", "prompt": "no session id"}',
    b'{"session_id": "", "cwd": "/"}',
    b"\xff\xfe\x00\x81 not utf-8",
]


@pytest.mark.parametrize("event", ["UserPromptSubmit", "PreToolUse", "SessionStart", "SessionEnd"])
def test_garbled_input_is_ignored_quietly(team, claude_code, event):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "auth refactor", "90", "--paths", "**")
    bob.ok("sync")
    claude = claude_code(bob)

    for stdin in GARBLED:
        run = claude.run(event, stdin=stdin)
        assert run.quiet(), (stdin, run)


def test_news_once_then_silence_until_something_changes(team, claude_code, project):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "auth refactor", "90", "--paths", "src/auth/**")
    bob.ok("sync")
    claude = claude_code(bob)
    claude.mirror(
        poke("alice", "POKE", "anyone on the login page?", 40),
        poke("alice", "HB", '{"host":"a","doing":[]}', 20),
        poke("bob", "POKE", "a poke of my own", 10),
    )

    first = _news(claude, cwd=project)
    second = _news(claude, cwd=project)
    claude.mirror(poke("carol", "POKE", "deploy at five"))
    third = _news(claude, cwd=project)

    document = first.answer()
    assert list(document) == ["hookSpecificOutput"]
    assert document["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    text = first.context
    assert re.search(r"- alice POKE: anyone on the login page\? \(4\d s ago\)", text)
    assert "a poke of my own" not in text and " HB" not in text
    assert "Latest commits in the coordination repository:" in text
    assert "alice, " in text and "claim: auth refactor" in text
    assert f"Latest commits in {project}:" in text and "add src/app.py" in text
    assert "Claims by other Yodas covering this repository:" in text
    assert "- alice (no heartbeat seen): auth refactor (src/auth/**), claimed" in text
    assert len(text) < 2000

    assert second.quiet()

    news = third.context
    assert "carol POKE: deploy at five" in news
    assert "login page" not in news and "auth refactor" not in news


def test_my_claims_and_their_end(team, claude_code):
    bob = team.yoda("bob")
    claude = claude_code(bob)
    bob.ok("claim", "frontend colours", "30", "--paths", "web/**")

    claimed = _news(claude).context
    bob.ok("release", "done")
    released = _news(claude).context

    assert "Claims held by this session (bob) or this machine:" in claimed
    assert re.search(
        r"- frontend colours \(web/\*\*\), claimed \d+ s ago, 29 min left of 30", claimed
    )
    assert "This session (bob) holds no claims now." in released
    assert "release: frontend colours" in released


def test_only_claims_covering_the_working_folder(team, claude_code, project):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "auth refactor", "90", "--paths", "src/auth/**")
    bob.ok("sync")
    (project / "docs").mkdir()
    claude = claude_code(bob)

    in_docs = _news(claude, cwd=project / "docs").context
    in_src = _news(claude, cwd=project / "src", session="another-session").context

    assert "auth refactor (src/auth/**)" not in in_docs
    assert "Claims by other Yodas covering src/:" in in_src
    assert "auth refactor (src/auth/**)" in in_src


def test_open_roll_calls_until_answered(team, claude_code):
    bob = team.yoda("bob")
    claude = claude_code(bob)
    now = datetime.now(timezone.utc)
    soon, gone = now + timedelta(minutes=10), now - timedelta(minutes=1)
    claude.mirror(
        poke("alice", "CALL", format_call_text("3f2a9c1e", 2, soon, "deploy freeze?"), 30),
        poke("alice", "CALL", format_call_text("0badc0de", 2, gone, "an old call"), 600),
        poke("bob", "CALL", format_call_text("00c0ffee", 1, soon, "my own call"), 20),
    )

    asked = _news(claude).context
    claude.mirror(poke("bob", "CHECKIN", format_checkin_text("3f2a9c1e", "frozen here")))
    answered = _news(claude)

    assert "Open roll-calls this session has not answered:" in asked
    assert "- call 3f2a9c1e by alice: deploy freeze?, expects 2 answers, closes in" in asked
    assert 'answered with coord-checkin 3f2a9c1e "note"' in asked
    calls = [line for line in asked.splitlines() if line.startswith("- call ")]
    assert len(calls) == 1, "neither a closed call nor my own is open for me"
    assert "Open roll-calls" not in (answered.context if answered.stdout else "")


def test_pokes_of_every_kind_read_as_facts(team, claude_code):
    claude = claude_code(team.yoda("bob"))
    closes = datetime.now(timezone.utc) + timedelta(minutes=5)
    claude.mirror(
        poke("alice", "CLAIM", "3f2a9c1e0b12 auth refactor", 50),
        poke("alice", "RELEASE", "77aa88bb99cc auth refactor", 40),
        poke("carol", "CALL", format_call_text("5eed5eed", 2, closes, "standup"), 30),
        poke("dave", "LEFT", '{"host":"d","doing":[]}', 20),
        poke("erin", "POKE", "line one\nline two \x1b[31m", 10),
    )

    lines = [line.split(" (", 1)[0] for line in _news(claude).context.splitlines()]

    assert "- alice CLAIM: auth refactor" in lines
    assert "- alice RELEASE: auth refactor" in lines
    assert "- carol CALL: roll-call 5eed5eed, 2 answers wanted: standup" in lines
    assert "- dave LEFT" in lines
    assert "- erin POKE: line one\\nline two \\x1b[31m" in lines


def test_a_mirror_of_100000_lines_gives_its_latest_pokes(team, claude_code):
    bob = team.yoda("bob")
    claude = claude_code(bob)
    start = datetime.now(timezone.utc) - timedelta(hours=20)
    deadline = datetime.now(timezone.utc) + timedelta(minutes=30)
    lines = []
    for number in range(100_000):
        moment = start + timedelta(seconds=number * 0.7)
        if number == 94_000:
            text = format_call_text("0a1b2c3d", 3, deadline, "release train?")
            lines.append(format_poke(Poke(moment, "carol", "CALL", text)))
        elif number % 100 == 99:
            lines.append(format_poke(Poke(moment, "alice", "POKE", f"poke number {number}")))
        else:
            text = '{"host":"h","doing":["a topic"]}'
            lines.append(format_poke(Poke(moment, f"yoda-{number % 50}", "HB", text)))
    path = mirror_path(claude.config)
    path.parent.mkdir(parents=True)
    path.write_text("".join(lines))

    text = _news(claude).context

    shown = [line for line in text.splitlines() if line.startswith("- alice POKE")]
    assert [line.split(" (")[0] for line in shown] == [
        f"- alice POKE: poke number {number}" for number in (99599, 99699, 99799, 99899, 99999)
    ]
    assert "- call 0a1b2c3d by carol: release train?, expects 3 answers" in text
    assert len(text) < 2000


def test_too_much_news_is_cut_below_2000_characters(team, claude_code, project):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    for number in range(12):
        alice.ok("claim", f"topic {number} " + "x" * 150, "90", "--paths", f"src/{number}/**")
    bob.ok("sync")
    claude = claude_code(bob)
    claude.mirror(*[poke("carol", "POKE", "y" * 5000, 10) for _ in range(8)])

    text = _news(claude, cwd=project).context

    assert len(text) < 2000
    assert text.endswith("(more than fits here; coord-check and coord-watch show everything)")


def test_a_state_clone_in_the_middle_of_a_rebase(team, claude_code, project):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "auth refactor", "90", "--paths", "src/auth/**")
    bob.ok("sync")
    (bob.state / "notes.txt").write_text("bob's line\n")
    bob.git("add", "notes.txt")
    bob.git("commit", "--quiet", "-m", "bob's notes")
    (alice.state / "notes.txt").write_text("alice's line\n")
    alice.git("add", "notes.txt")
    alice.git("commit", "--quiet", "-m", "alice's notes")
    alice.git("push", "--quiet", "origin", "HEAD")
    bob.git("fetch", "--quiet")
    assert bob.git("rebase", "origin/main", check=False) is not None
    assert (bob.state / ".git" / "rebase-merge").exists()
    claude = claude_code(bob)

    prompt = _news(claude, cwd=project)
    guard = claude.run(
        "PreToolUse",
        cwd=project,
        tool_name="Edit",
        tool_input={"file_path": str(project / "src/auth/login.py"), "old_string": "a"},
    )

    assert "auth refactor" in prompt.context
    assert guard.code == 0 and guard.stderr == ""
    assert guard.answer()["hookSpecificOutput"]["permissionDecision"] == "ask"


def test_broken_repositories_do_not_break_the_prompt(team, claude_code, project):
    bob = team.yoda("bob")
    bob.ok("claim", "frontend colours", "30")
    (project / ".git" / "HEAD").write_text("garbage\n")
    (bob.state / ".git" / "HEAD").write_text("ref: refs/heads/\0nothing\n")
    claude = claude_code(bob)

    run = _news(claude, cwd=project)

    assert "frontend colours" in run.context
    assert "Latest commits" not in run.context


def test_pokes_announced_and_mirrored_for_real(team, claude_code):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    claude = claude_code(bob)
    hub = {key: claude.env[key] for key in ("COORD_HUB", "COORD_HUB_DIR")}
    alice.ok("announce", "tests are red on main, looking", env=hub)
    alice.ok("heartbeat", env=hub)
    watch = subprocess.Popen(
        [PYTHON, str(BIN / "coord-watch"), "--mirror"],
        env=claude.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        mirror = mirror_path(claude.config)
        deadline = time.monotonic() + 20
        while not (mirror.exists() and "tests are red" in mirror.read_text()):
            assert time.monotonic() < deadline, "coord-watch --mirror did not mirror the poke"
            time.sleep(0.05)
        run = _news(claude)
    finally:
        watch.send_signal(signal.SIGTERM)
        _, watch_said = watch.communicate(timeout=10)

    assert run.stdout, f"the prompt hook said nothing; coord-watch said: {watch_said!r}"
    assert "alice POKE: tests are red on main, looking" in run.context


def test_hub_never_reached_costs_nothing(team, claude_code, unreachable_hub):
    bob = team.yoda("bob")
    claude = claude_code(bob)
    claude.env.update(unreachable_hub)
    bob.ok("claim", "frontend colours", "30")

    start = claude.run("SessionStart", source="startup")
    prompt = _news(claude)
    end = claude.run("SessionEnd", reason="prompt_input_exit")

    assert start.code == 0 and "The state clone was synced" in start.context
    assert "frontend colours" in prompt.context
    assert end.quiet()
    assert start.seconds < 12 and end.seconds < 10


def test_commits_of_the_working_repository_only_when_new(team, claude_code, project):
    bob = team.yoda("bob")
    claude = claude_code(bob)
    _news(claude, cwd=project)
    (project / "CHANGES").write_text("more\n")
    git("add", "CHANGES", cwd=project, env=bob.env)
    git("commit", "--quiet", "-m", "note the changes", cwd=project, env=bob.env)

    news = _news(claude, cwd=project).context

    commits = [line for line in news.splitlines() if line.startswith("- ") and "ago:" in line]
    assert len(commits) == 1 and commits[0].endswith("note the changes")
    assert json.loads(json.dumps(news)) == news
