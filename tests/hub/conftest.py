"""Fixtures for the hub tests: a folder of its own on the loopback hub, Yodas wired to it.

Every test gets a fresh COORD_HUB_DIR on the session's shared hub account, so
tests never see each other's pokes, and Yodas (from the ``team`` fixture)
whose environment points at it through the loopback sshd's ssh config.
"""

from __future__ import annotations

import secrets
import subprocess
from typing import Optional

import pytest
from hubkit import Background, Hub


@pytest.fixture
def hub(loopback, hub_account) -> Hub:
    name = f"coord-{secrets.token_hex(4)}"
    env = {
        "COORD_HUB": hub_account.name,
        "COORD_SSH": loopback.coord_ssh,
        "COORD_HUB_DIR": f"~/{name}",
    }
    return Hub(env, hub_account.home / name)


@pytest.fixture
def local_hub(tmp_path) -> Hub:
    """The hub as seen on the hub itself: plain files, no ssh."""
    path = tmp_path / "hub folder"
    return Hub({"COORD_HUB": "local", "COORD_HUB_DIR": str(path)}, path)


@pytest.fixture
def crew(team, hub):
    """``crew("alice")``: a Yoda with a state clone, talking to this test's hub."""

    def make(name: str, **extra: str):
        return team.yoda(name, **{**hub.env, **extra})

    return make


@pytest.fixture
def background():
    """``background(yoda, "watch", "--mirror")``; everything is stopped after the test."""
    started: list[Background] = []

    def start(yoda, command: str, *args: str, env: Optional[dict] = None) -> Background:
        runner = Background(yoda, command, *args, env=env)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        if runner.process.poll() is None:
            runner.process.terminate()
            try:
                runner.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                runner.process.kill()
                runner.process.wait(timeout=5)
