"""The runtime on every host: this checkout's, runnable, on PATH, with its settings."""

from __future__ import annotations

import configparser
import shlex

from tasks.helpers import MANAGED, runtime_archive

DIGEST = runtime_archive().digest


def test_current_runtime_is_the_deployed_version(node):
    plan = node.plan
    link = node.host.file(plan.current_link)

    assert link.is_symlink, f"{plan.current_link} is not a link"
    assert link.linked_to == plan.version_dir


def test_runtime_files_are_this_checkout(node):
    stamp = node.host.file(f"{node.plan.version_dir}/.coord-digest")

    assert stamp.exists, "no runtime archive was unpacked here"
    assert stamp.content_string.strip() == DIGEST, (
        "the runtime differs from this checkout's: deploy again"
    )


def test_coord_runs_at_the_deployed_version(node):
    plan = node.plan

    output = node.run(f"{shlex.quote(plan.bin_link('coord'))} --version")

    assert output.strip() == f"coord {plan.version}"


def test_every_command_is_linked(node):
    plan = node.plan
    found = {}
    for name in plan.commands:
        link = node.host.file(plan.bin_link(name))
        found[name] = link.linked_to if link.is_symlink else None

    expected = {name: f"{plan.version_dir}/runtime/bin/coord" for name in plan.commands}
    assert found == expected


def test_settings_are_the_deployed_ones(node):
    plan = node.plan
    text = node.host.file(plan.config_path).content_string
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)

    assert text.splitlines()[0] == f"# {MANAGED}"
    assert list(parser["coord"].items()) == plan.settings
