"""The hub's folder, each Yoda's state clone, and the Claude Code hooks."""

from __future__ import annotations

import json
import shlex


def test_hub_folder_is_private(hub):
    plan = hub.plan
    folder = hub.host.file(plan.hub_dir)
    heartbeats = hub.host.file(plan.heartbeats)
    log = hub.host.file(plan.poke_log)

    assert folder.is_directory and folder.mode == 0o700
    assert heartbeats.is_directory and heartbeats.mode == 0o700
    assert log.is_file and log.mode == 0o600


def test_state_clone_is_healthy(yoda):
    plan = yoda.plan
    clone = shlex.quote(plan.state_clone)

    git_dir = yoda.run(f"git -C {clone} rev-parse --absolute-git-dir").strip()
    origin = yoda.run(f"git -C {clone} config --get remote.origin.url").strip()

    assert origin == plan.remote
    for unfinished in ("rebase-merge", "rebase-apply", "MERGE_HEAD"):
        assert not yoda.exists(f"{git_dir}/{unfinished}"), f"{unfinished} left in {git_dir}"


def test_hooks_are_registered_as_chosen(yoda):
    plan = yoda.plan

    status = json.loads(yoda.run(f"{shlex.quote(plan.bin_link('coord'))} hooks status --json"))

    if plan.hooks:
        assert status["registered"], f"hooks not registered in {status['settings']}"
    else:
        assert not status["present"], f"coord hooks left in {status['settings']}"
