"""Yodas for tests: clones of one bare remote, each running the real commands.

Every command runs as a subprocess, exactly as a user would type it, through
``runtime/bin/coord-<name>`` and the interpreter named by ``COORD_TEST_PYTHON``
(the test runner's own by default), so the same tests prove the runtime under
Python 3.9.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "runtime" / "bin"
PYTHON = os.environ.get("COORD_TEST_PYTHON") or sys.executable

# Variables of the machine that would leak the real user's setup into a test.
_DROPPED = ("YODA_ID", "GIT_DIR", "GIT_WORK_TREE", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def hermetic_env(home: Path) -> dict[str, str]:
    """An environment with a private HOME, no system git config and a fixed author."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COORD_")}
    for key in _DROPPED:
        env.pop(key, None)
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.invalid",
        GIT_COMMITTER_NAME="Test Author",
        GIT_COMMITTER_EMAIL="author@example.invalid",
        LC_ALL="C.UTF-8",
        PYTHONDONTWRITEBYTECODE="1",
        # The default hub name would send ssh (and a DNS query) off this
        # machine; tests that want a real hub point these at the loopback sshd.
        COORD_HUB="local",
        COORD_HUB_DIR=str(home / "hub"),
    )
    return env


def git(*args: str, cwd: Path, env: dict, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@dataclass
class Yoda:
    """One coding session: its own id, HOME and state clone."""

    name: str
    home: Path
    state: Path
    env: dict = field(repr=False)

    def run(
        self,
        command: str,
        *args: str,
        input: Optional[str] = None,
        env: Optional[dict] = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess:
        """Run ``coord-<command> ARGS`` as this Yoda; never raises on a non-zero exit."""
        merged = dict(self.env)
        merged.update(env or {})
        return subprocess.run(
            [PYTHON, str(BIN / f"coord-{command}"), *args],
            input=input,
            env=merged,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def ok(self, command: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """Run a command that must succeed; show its stderr when it does not."""
        result = self.run(command, *args, **kwargs)
        assert result.returncode == 0, (
            f"coord-{command} exited {result.returncode}: {result.stderr}"
        )
        return result

    def check_json(self, *args: str) -> dict:
        return json.loads(self.ok("check", "--json", *args).stdout)

    def git(self, *args: str, check: bool = True) -> str:
        return git(*args, cwd=self.state, env=self.env, check=check)

    @property
    def coord(self) -> Path:
        return self.state / "coordination"


class Team:
    """A bare remote and the Yodas cloned from it."""

    def __init__(self, root: Path):
        self.root = root
        self.remote = root / "remote.git"
        env = hermetic_env(root)
        git(
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            str(self.remote),
            cwd=root,
            env=env,
        )
        self.yodas: dict[str, Yoda] = {}

    def yoda(self, name: str, **extra_env: str) -> Yoda:
        """Clone the remote for a new Yoda called *name* (its YODA_ID)."""
        home = self.root / "homes" / name
        home.mkdir(parents=True)
        env = hermetic_env(home)
        state = home / "state"
        git("clone", "--quiet", str(self.remote), str(state), cwd=home, env=env)
        env.update(YODA_ID=name, COORD_STATE=str(state), **extra_env)
        yoda = Yoda(name, home, state, env)
        self.yodas[name] = yoda
        return yoda
