"""The deploy with no fleet file: this machine alone, through pyinfra's @local connector.

It runs as a test account (never as root, whose home must stay untouched), from the
tests' copy of the project, which has no fleet.toml: exactly `pyinfra -y inventory.py
deploy.py` on a fresh machine. The fleet is one Yoda that is its own hub, with a local
bare repository as the coordination remote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetkit import Run, home_listing
from support.loopback import Account, Loopback

pytestmark = pytest.mark.fleet


class Solo:
    """One account deploying to itself, with the test's pyinfra on a system Python."""

    def __init__(self, loopback: Loopback, account: Account, project: Path, python: str):
        self.loopback = loopback
        self.account = account
        self.project = project
        self.python = python

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        home = self.account.home
        env = {
            "PATH": f"{home}/.local/bin:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": sysconfig.get_paths()["purelib"],
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        return self.loopback.run_as(self.account, list(argv), env=env, timeout=timeout)

    def deploy(self, *args: str) -> Run:
        confirm = [] if "--dry" in args else ["-y"]
        argv = [
            "--json",
            *confirm,
            str(self.project / "inventory.py"),
            str(self.project / "deploy.py"),
        ]
        result = self.run(self.python, "-m", "pyinfra", *argv, *args)
        try:
            document = json.loads(result.stdout)
        except ValueError:
            document = None
        return Run(argv + list(args), result.returncode, document, result.stderr + result.stdout)


def system_python() -> str:
    """A python3 the account may run, of the same version as the test's (for pyinfra's
    compiled dependencies); the test's own may live below root's private home."""
    wanted = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in [f"/usr/bin/{wanted}", f"/usr/local/bin/{wanted}"]:
        if Path(candidate).is_file():
            return candidate
    pytest.fail(f"the default deploy runs as a test account and needs {wanted} in /usr/bin")


@pytest.fixture(scope="module")
def solo(loopback: Loopback, project: Path) -> Iterator[Solo]:
    account = loopback.add_account("solo", user_manager=True)
    try:
        yield Solo(loopback, account, project, system_python())
    finally:
        loopback.remove_account(account)


@pytest.fixture(scope="module")
def fresh_home(solo: Solo) -> dict[str, str]:
    return home_listing(solo.account.home)


@pytest.fixture(scope="module")
def first(solo: Solo, fresh_home) -> Run:
    return solo.deploy()


def test_default_deploy_sets_up_this_machine(solo: Solo, first: Run):
    assert first.returncode == 0, str(first)
    assert first.errors() == []
    assert {host for _, host in first.changes()} == {"@local"}
    assert (solo.account.home / ".local/share/coord/remote.git/HEAD").is_file()


def test_default_deploy_again_changes_nothing(solo: Solo, first: Run):
    again = solo.deploy()

    assert again.returncode == 0, str(again)
    assert again.changes() == []


def test_commands_work_from_a_new_shell(solo: Solo, first: Run):
    script = (
        '. "$HOME/.bashrc"; coord-claim "solo work" 10 >/dev/null && coord-heartbeat'
        " && coord-check && coord-who --json"
    )

    result = solo.run("bash", "-c", script)

    assert result.returncode == 0, result.stderr
    assert "solo work" in result.stdout
    who = json.loads(result.stdout[result.stdout.index("{") :])
    assert [entry["state"] for entry in who["yodas"]] == ["LIVE"]


def test_audit_passes_on_this_machine(solo: Solo, first: Run):
    audit = solo.run(
        solo.python, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(solo.project / "audit")
    )

    assert audit.returncode == 0, audit.stdout[-6000:] + audit.stderr[-2000:]


def test_purge_leaves_the_home_as_it_was(solo: Solo, first: Run, fresh_home):
    purge = solo.deploy("--data", "coord_state=absent", "--data", "coord_purge=true")
    again = solo.deploy("--data", "coord_state=absent", "--data", "coord_purge=true")

    assert purge.returncode == 0, str(purge)
    assert again.changes() == [], str(again)
    after = home_listing(solo.account.home)
    left = {path: kind for path, kind in after.items() if path not in fresh_home}
    # coord hooks uninstall leaves the settings file it had to create, emptied.
    if left.get(".claude/settings.json", "").strip() == "{}":
        del left[".claude/settings.json"]
    assert {path for path, kind in left.items() if kind != "dir"} == set(), left
    assert [path for path in left if "coord" in path] == []


def test_without_a_user_manager_units_wait_and_the_deploy_says_so(loopback, project: Path):
    account = loopback.add_account("nomgr")
    try:
        bare = Solo(loopback, account, project, system_python())
        run = bare.deploy()
        units = sorted(path.name for path in (account.home / ".config/systemd/user").iterdir())
    finally:
        loopback.remove_account(account)

    assert run.returncode == 0, str(run)
    assert run.errors() == []
    assert "no systemd user manager runs for" in run.log
    assert "installed but not started" in run.log
    assert units == [
        "coord-heartbeat.service",
        "coord-heartbeat.timer",
        "coord-sync.service",
        "coord-sync.timer",
        "coord-watch.service",
    ]
    assert not [name for name, _ in run.changes() if "Enable and start" in name]
