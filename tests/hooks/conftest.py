"""Fixtures for the hook tests: Claude Code on a Yoda's machine, a project, a dead hub."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from claudecode import ClaudeCode
from support.yodas import Yoda, git, hermetic_env


@pytest.fixture
def claude_code(team, tmp_path):
    """Factory: ``claude_code(yoda)`` is Claude Code running on that Yoda's machine."""

    def make(yoda: Yoda) -> ClaudeCode:
        root = tmp_path / "claude" / yoda.name
        root.mkdir(parents=True)
        return ClaudeCode(yoda, root)

    return make


@pytest.fixture
def project(tmp_path) -> Path:
    """The repository the sessions work on, with a few commits."""
    path = tmp_path / "project"
    (path / "src" / "auth").mkdir(parents=True)
    env = hermetic_env(tmp_path)
    git("init", "--quiet", "--initial-branch=main", cwd=path, env=env)
    for name in ("README.md", "src/auth/login.py", "src/app.py"):
        (path / name).write_text(f"{name}\n")
        git("add", name, cwd=path, env=env)
        git("commit", "--quiet", "-m", f"add {name}", cwd=path, env=env)
    return path


@pytest.fixture
def unreachable_hub(tmp_path) -> dict:
    """Settings that point coord at a hub on a loopback port where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host coord-test-hub\n"
        "    HostName 127.0.0.1\n"
        f"    Port {port}\n"
        "    BatchMode yes\n"
        "    ConnectTimeout 2\n"
        f"    UserKnownHostsFile {tmp_path / 'known_hosts'}\n"
    )
    return {"COORD_HUB": "coord-test-hub", "COORD_SSH": f"ssh -F {config}"}
