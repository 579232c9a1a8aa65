"""How a Yoda reaches the hub: coord's ssh settings, included where ssh reads them."""

from __future__ import annotations

import re
import shlex

from tasks.helpers import SSH_BLOCK_START, SSH_INCLUDE


def test_ssh_config_includes_coord_settings_before_any_host(remote_yoda):
    plan = remote_yoda.plan
    lines = remote_yoda.host.file(plan.ssh_config).content_string.splitlines()

    assert lines.count(SSH_INCLUDE) == 1
    blocks = [i for i, line in enumerate(lines) if re.match(SSH_BLOCK_START, line)]
    assert not blocks or lines.index(SSH_INCLUDE) < blocks[0]


def test_hub_alias_shares_one_connection(remote_yoda):
    plan = remote_yoda.plan
    alias = plan.hub_access.alias

    shown = remote_yoda.run(f"ssh -G {shlex.quote(alias)}").splitlines()
    settings = dict(line.split(" ", 1) for line in shown if " " in line)

    assert settings["hostname"] == plan.hub_access.hostname
    assert settings["port"] == str(plan.hub_access.port)
    assert settings["controlmaster"] == "auto"
    assert settings["controlpath"].startswith(plan.mux_dir + "/")
    assert remote_yoda.host.file(plan.mux_dir).mode == 0o700
    assert remote_yoda.host.file(plan.ssh_conf).mode == 0o600


def test_hub_answers_over_ssh(remote_yoda):
    alias = remote_yoda.plan.hub_access.alias

    result = remote_yoda.host.run(f"ssh -o BatchMode=yes {shlex.quote(alias)} true")

    assert result.rc == 0, f"ssh {alias} failed: {result.stderr.strip()}"
