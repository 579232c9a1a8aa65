"""coord hooks install | uninstall | status: merging into Claude Code's settings.json."""

from __future__ import annotations

import json
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from support.yodas import BIN, PYTHON, ROOT, hermetic_env

HOOKS = ROOT / "hooks"
OURS = {
    "SessionStart": "coord_session_start.py",
    "UserPromptSubmit": "coord_prompt.py",
    "PreToolUse": "coord_guard.py",
    "SessionEnd": "coord_session_end.py",
}

USER_SETTINGS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)"], "deny": ["Read(./.env)"]},
    "env": {"FOO": "bar"},
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/check-bash"}]},
            {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier-hook"}]},
        ],
        "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "date"}]}],
        "Stop": [],
    },
    "statusLine": {"type": "command", "command": "echo ready"},
}


def coord_hooks(home: Path, *args: str, program: Path = BIN / "coord", env=None):
    environ = hermetic_env(home)
    environ.update(env or {})
    return subprocess.run(
        [PYTHON, str(program), "hooks", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def ok(home: Path, *args: str, **kwargs) -> dict:
    result = coord_hooks(home, *args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def settings_file(home: Path) -> Path:
    return home / ".claude" / "settings.json"


def our_commands(settings: dict) -> list[tuple[str, str]]:
    return [
        (event, hook["command"])
        for event, groups in settings.get("hooks", {}).items()
        for group in groups
        for hook in group["hooks"]
        if "coord_" in hook["command"]
    ]


def test_install_registers_the_table_once(home):
    before = ok(home, "status")
    installed = ok(home, "install")
    text = settings_file(home).read_bytes()
    again = ok(home, "install")
    after = ok(home, "status")

    assert before["registered"] is False and before["present"] is False
    assert installed["changed"] is True and installed["registered"] is True
    assert again["changed"] is False and settings_file(home).read_bytes() == text
    assert after["registered"] is True and after["present"] is True
    assert after["settings"] == str(settings_file(home))
    assert after["hooks_dir"] == str(HOOKS) and after["guard"] == "ask"
    settings = json.loads(text)
    assert sorted(our_commands(settings)) == sorted(
        (event, shlex.quote(str(HOOKS / program))) for event, program in OURS.items()
    )
    [guard_group] = settings["hooks"]["PreToolUse"]
    assert guard_group["matcher"] == "Edit|Write|MultiEdit|NotebookEdit"
    assert guard_group["hooks"][0] == {
        "type": "command",
        "command": shlex.quote(str(HOOKS / "coord_guard.py")),
        "timeout": 5,
    }
    assert stat.S_IMODE(settings_file(home).stat().st_mode) == 0o600


def test_registered_commands_run_as_claude_code_runs_them(home):
    ok(home, "install")
    settings = json.loads(settings_file(home).read_text())

    for _, command in our_commands(settings):
        result = subprocess.run(
            ["bash", "-c", command], input=b"{}", capture_output=True, timeout=30
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b""), command


def test_everything_else_the_user_has_is_kept(home):
    settings_file(home).parent.mkdir()
    settings_file(home).write_text(json.dumps(USER_SETTINGS, indent=4))

    ok(home, "install")
    merged = json.loads(settings_file(home).read_text())
    removed = ok(home, "uninstall")
    restored = json.loads(settings_file(home).read_text())

    for key in ("model", "permissions", "env", "statusLine"):
        assert merged[key] == USER_SETTINGS[key]
    pre_tool = merged["hooks"]["PreToolUse"]
    assert pre_tool[:2] == USER_SETTINGS["hooks"]["PreToolUse"]
    assert merged["hooks"]["UserPromptSubmit"][0] == USER_SETTINGS["hooks"]["UserPromptSubmit"][0]
    assert merged["hooks"]["Stop"] == []
    assert len(our_commands(merged)) == 4
    assert removed["changed"] is True and removed["present"] is False
    assert restored == USER_SETTINGS


def test_never_twice_even_from_an_older_tree(home):
    old = "/home/u/.local/share/llamaclaw-parallelism/0.0.9/hooks/coord_prompt.py"
    settings = {
        "hooks": {
            "UserPromptSubmit": [
                {"hooks": [{"type": "command", "command": old}]},
                {"hooks": [{"type": "command", "command": f"python3 {old}"}]},
                {"hooks": [{"type": "command", "command": "date"}]},
            ]
        }
    }
    settings_file(home).parent.mkdir()
    settings_file(home).write_text(json.dumps(settings))

    before = ok(home, "status")
    ok(home, "install")
    after = json.loads(settings_file(home).read_text())

    assert before["registered"] is False and before["present"] is True
    assert [hook["command"] for hook in before["stale"]] == [old, f"python3 {old}"]
    assert sorted(event for event, _ in our_commands(after)) == sorted(OURS)
    assert after["hooks"]["UserPromptSubmit"][0] == {
        "hooks": [{"type": "command", "command": "date"}]
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"model": "opus",',
        "[1, 2, 3]",
        '{"hooks": ["not", "an", "object"]}',
        '{"hooks": {"PreToolUse": {"matcher": "Bash"}}}',
        "\ufeff\x00 binary",
    ],
)
@pytest.mark.parametrize("action", ["install", "uninstall", "status"])
def test_a_file_coord_does_not_understand_is_left_untouched(home, text, action):
    settings_file(home).parent.mkdir()
    settings_file(home).write_text(text)
    before = settings_file(home).read_bytes()

    result = coord_hooks(home, action)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"coord-hooks: {settings_file(home)}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert settings_file(home).read_bytes() == before
    assert sorted(path.name for path in settings_file(home).parent.iterdir()) == ["settings.json"]


def test_a_deployed_tree_is_registered_through_its_current_link(home, tmp_path):
    share = tmp_path / "share" / "llamaclaw-parallelism"
    ignore = shutil.ignore_patterns("__pycache__")
    for version in ("0.1.0", "0.2.0"):
        shutil.copytree(ROOT / "runtime", share / version / "runtime", symlinks=True, ignore=ignore)
        shutil.copytree(HOOKS, share / version / "hooks", ignore=ignore)
    (share / "current").symlink_to("0.1.0")
    local_bin = tmp_path / "bin"
    local_bin.mkdir()
    (local_bin / "coord").symlink_to(share / "current" / "runtime" / "bin" / "coord")

    installed = ok(home, "install", program=local_bin / "coord")
    (share / "current").unlink()
    (share / "current").symlink_to("0.2.0")
    upgraded = ok(home, "status", program=local_bin / "coord")

    assert installed["hooks_dir"] == str(share / "current" / "hooks")
    commands = [command for _, command in our_commands(json.loads(settings_file(home).read_text()))]
    assert all(command.startswith(str(share / "current" / "hooks") + "/") for command in commands)
    assert upgraded["registered"] is True


def test_a_linked_settings_file_stays_a_link_with_its_mode(home, tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "claude.json").write_text('{"model": "sonnet"}\n')
    (dotfiles / "claude.json").chmod(0o640)
    settings_file(home).parent.mkdir()
    settings_file(home).symlink_to(dotfiles / "claude.json")

    ok(home, "install")

    assert settings_file(home).is_symlink()
    assert stat.S_IMODE((dotfiles / "claude.json").stat().st_mode) == 0o640
    merged = json.loads((dotfiles / "claude.json").read_text())
    assert merged["model"] == "sonnet" and len(our_commands(merged)) == 4


def test_settings_found_through_claude_config_dir_or_named(home, tmp_path):
    elsewhere = tmp_path / "claude-config"
    named = tmp_path / "named" / "settings.json"

    through_env = ok(home, "install", env={"CLAUDE_CONFIG_DIR": str(elsewhere)})
    through_option = ok(home, "install", "--settings", str(named))
    status = coord_hooks(home, "status")

    assert through_env["settings"] == str(elsewhere / "settings.json")
    assert (elsewhere / "settings.json").exists() and named.exists()
    assert through_option["settings"] == str(named)
    assert not settings_file(home).exists()
    assert "not registered" in status.stdout


def test_uninstall_without_settings_changes_nothing(home):
    removed = ok(home, "uninstall")
    text = coord_hooks(home, "uninstall")

    assert removed["changed"] is False and removed["present"] is False
    assert not settings_file(home).parent.exists()
    assert text.stdout.startswith("no coord hooks in ")


def test_a_hooks_folder_without_a_table_is_an_error(home, tmp_path):
    result = coord_hooks(home, "install", "--hooks-dir", str(tmp_path))

    assert result.returncode == 1
    assert result.stderr == f"coord-hooks: no hook table at {tmp_path / 'table.json'}\n"
    assert not settings_file(home).exists()
