"""Sessions: an id of their own, a survey when they start, a goodbye when they end."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from coord.claude import session_yoda_id
from coord.config import validate_id
from support.yodas import BIN


def _digits(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()[:6]


def _configure(yoda, text: str) -> None:
    path = yoda.home / ".config" / "coord" / "config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _who(claude) -> dict:
    result = claude.yoda.ok("who", "--json", env=claude.env)
    return {entry["yoda"]: entry["state"] for entry in json.loads(result.stdout)["yodas"]}


def test_sessions_on_one_machine_are_separate_yodas(team, claude_code, project, tmp_path):
    bob = team.yoda("bob")
    _configure(bob, "[coord]\nyoda_id = bob\n")
    claude = claude_code(bob)
    claude.cwd = project
    one, two = "0b7e-session-one", "9c21-session-two"
    id_one, id_two = f"bob-{_digits(one)}", f"bob-{_digits(two)}"
    env_one, env_two = tmp_path / "env-one.sh", tmp_path / "env-two.sh"

    started = claude.run(
        "SessionStart", session=one, source="startup", env={"CLAUDE_ENV_FILE": str(env_one)}
    )
    claude.run("SessionStart", session=two, source="startup", env={"CLAUDE_ENV_FILE": str(env_two)})
    claude.run("SessionStart", session=one, source="resume", env={"CLAUDE_ENV_FILE": str(env_one)})
    both_live = _who(claude)

    # The Bash tool sources the env file before each command: coord acts as the session.
    bash_tool = subprocess.run(
        [
            "bash",
            "-c",
            '. "$1" && coord-claim "auth refactor" 60 --paths "src/auth/**"',
            "bash",
            str(env_one),
        ],
        env=dict(claude.env, PATH=f"{BIN}{os.pathsep}{claude.env['PATH']}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    edit = {"file_path": str(project / "src/auth/login.py"), "old_string": "a", "new_string": "b"}
    guard_one = claude.run("PreToolUse", session=one, tool_name="Edit", tool_input=edit)
    guard_two = claude.run("PreToolUse", session=two, tool_name="Edit", tool_input=edit)

    ended = claude.run("SessionEnd", session=one, reason="prompt_input_exit")
    after = _who(claude)

    assert env_one.read_text() == f"export YODA_ID={id_one}\n"
    assert env_two.read_text() == f"export YODA_ID={id_two}\n"
    assert f"This session's Yoda id is {id_one} (this machine's is bob)" in started.context
    assert "coord commands run in this session use it" in started.context
    assert both_live[id_one] == "LIVE" and both_live[id_two] == "LIVE"
    assert bash_tool.returncode == 0, bash_tool.stderr
    assert guard_one.quiet()
    reason = guard_two.answer()["hookSpecificOutput"]["permissionDecisionReason"]
    assert f"{id_one} holds src/auth/**" in reason
    assert ended.quiet()
    assert after[id_one] == "LEFT" and after[id_two] == "LIVE"


def test_session_start_syncs_and_surveys(team, claude_code, project):
    alice, bob, carol = team.yoda("alice"), team.yoda("bob"), team.yoda("carol")
    claude = claude_code(bob)
    claude.cwd = project
    alice.ok("claim", "auth refactor", "90", "--paths", "src/auth/**")
    carol.ok("claim", "billing", "30")
    bob.ok("claim", "frontend colours", "30")
    claude.seen(alice=10, carol=4000)

    start = claude.run("SessionStart", source="startup")
    first_prompt = claude.run("UserPromptSubmit", prompt="go")
    claude.run("SessionStart", source="compact")
    after_compact = claude.run("UserPromptSubmit", prompt="go on")

    answer = start.answer()
    assert answer["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    survey = start.context
    assert "The state clone was synced with the coordination repository just now." in survey
    assert "Live Yodas (1): alice (idle)." in survey
    assert "Claims held by this session (bob) or this machine:" in survey
    assert re.search(
        r"- alice \(LIVE, last heartbeat 1\d s ago\): auth refactor \(src/auth", survey
    )
    assert "- carol (DEAD, last heartbeat 66 min ago): billing, claimed" in survey
    assert len(survey) < 2000

    news = first_prompt.context
    assert "claim: auth refactor" in news, "the first prompt gives the latest commits"
    assert "Claims by other Yodas" not in news and "Claims held" not in news
    assert "claim: auth refactor" in after_compact.context


def test_a_failed_sync_is_said_and_the_survey_still_comes(team, claude_code):
    bob = team.yoda("bob")
    bob.ok("claim", "frontend colours", "30")
    shutil.rmtree(team.remote)
    claude = claude_code(bob)

    start = claude.run("SessionStart", source="startup")

    assert start.code == 0
    assert "The sync of the state clone did not complete (remote unreachable" in start.context
    assert "the claims below are from the previous sync." in start.context
    assert "frontend colours" in start.context


@pytest.mark.parametrize(
    "environ, session, expected",
    [
        ({"YODA_ID": "alice"}, "s", "alice"),
        ({"YODA_ID": "bob", "file": "bob"}, "s", f"bob-{_digits('s')}"),
        ({"file": "mac-1"}, "s", f"mac-1-{_digits('s')}"),
        ({"YODA_ID": "-not valid-", "file": "mac-1"}, "s", f"mac-1-{_digits('s')}"),
        ({"file": "m" * 64}, "s", "m" * 57 + f"-{_digits('s')}"),
        ({"file": "mac-1"}, "", "mac-1"),
    ],
)
def test_session_ids(tmp_path, environ, session, expected):
    env = {"HOME": str(tmp_path)}
    if "YODA_ID" in environ:
        env["YODA_ID"] = environ["YODA_ID"]
    if "file" in environ:
        config = tmp_path / ".config" / "coord" / "config"
        config.parent.mkdir(parents=True)
        config.write_text(f"[coord]\nyoda_id = {environ['file']}\n")

    assert session_yoda_id(session, env) == expected
    assert session_yoda_id(session, env) == session_yoda_id(session, dict(env))


def test_a_session_id_from_the_host_name_is_valid(tmp_path):
    derived = session_yoda_id("4b1d-any-session", {"HOME": str(tmp_path)})

    assert validate_id(derived) == derived
    assert derived.endswith(f"-{_digits('4b1d-any-session')}")


def _at(minutes: float) -> dict:
    moment = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    return {"COORD_NOW": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_the_machine_heartbeat_keeps_an_open_idle_session_live(team, claude_code, project):
    bob = team.yoda("bob")
    _configure(bob, "[coord]\nyoda_id = bob\n")
    claude = claude_code(bob)
    claude.cwd = project
    session = "5d1e-idle-session"
    session_id = f"bob-{_digits(session)}"
    claude.run("SessionStart", session=session, source="startup")
    registered = bob.home / ".local" / "state" / "coord" / "live-sessions" / session_id

    # Ten idle minutes later the machine's timer beats, for the session too.
    bob.ok("heartbeat", env=_at(10))
    beaten = json.loads(bob.ok("who", "--json", env=_at(10.5)).stdout)
    was_registered = registered.exists()
    claude.run("SessionEnd", session=session, reason="prompt_input_exit")

    assert was_registered and not registered.exists()
    states = {entry["yoda"]: entry["state"] for entry in beaten["yodas"]}
    assert states[session_id] == "LIVE"
    assert states["bob"] == "LIVE"


def test_a_session_whose_process_is_gone_is_dropped(team):
    from coord import config as coord_config
    from coord import presence

    bob = team.yoda("bob")
    gone = subprocess.Popen(["true"])
    gone.wait()
    settings = coord_config.load(bob.env)
    presence.register_session(settings, "bob-000000", gone.pid)
    presence.register_session(settings, "bob-111111", os.getpid())

    bob.ok("heartbeat")
    seen = {entry["yoda"] for entry in json.loads(bob.ok("who", "--json").stdout)["yodas"]}

    assert seen == {"bob", "bob-111111"}
    assert presence.live_sessions(settings) == ["bob-111111"]
