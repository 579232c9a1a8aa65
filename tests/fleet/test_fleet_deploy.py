"""The deploy on a real fleet: install, install again, audit, jobs at work, uninstall.

The tests run in this file's order and share one fleet: each stage is a session
fixture that runs once (the first deploy, the second, the uninstall of Yoda b), and
the tests after it check what that stage did.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from fleetkit import Fleet, Run, eventually, home_listing

pytestmark = pytest.mark.fleet

# What Yoda b's user had before coord came, in every file of theirs that the deploy
# edits: no trailing newline, to catch any byte added or lost on the way.
USER_BASHRC_TAIL = "\n# my own settings\nexport EDITOR=vi\nalias ll='ls -l'"
USER_ZSHRC = "# zsh, though it is not my login shell\nsetopt autocd\nbindkey -e"
USER_SSH_CONFIG = (
    "Host work\n    HostName 192.0.2.7\n    User me\n\nHost *\n    ServerAliveInterval 30"
)
USER_CLAUDE = {
    "model": "opus",
    "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]},
}
# Lines the user adds around coord's own after the deploy.
LATER_BEFORE = "# added later, above coord's block\n"
LATER_AFTER = "\n# added later, at the end\n"


@pytest.fixture(scope="session")
def before_b(fleet: Fleet) -> dict[str, str]:
    """Yoda b's home as its user left it, before any deploy."""
    account = fleet.yodas["b"]
    home = account.home
    with open(home / ".bashrc", "a") as bashrc:
        bashrc.write(USER_BASHRC_TAIL)
    (home / ".zshrc").write_text(USER_ZSHRC)
    (home / ".ssh" / "config").write_text(USER_SSH_CONFIG)
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text(json.dumps(USER_CLAUDE))
    for path in [home / ".bashrc", home / ".zshrc", home / ".ssh" / "config", home / ".claude"]:
        os.chown(path, account.uid, account.gid)
    os.chown(home / ".claude" / "settings.json", account.uid, account.gid)
    return home_listing(home)


@pytest.fixture(scope="session")
def first_deploy(fleet: Fleet, before_b) -> Run:
    return fleet.deploy()


@pytest.fixture(scope="session")
def second_deploy(fleet: Fleet, first_deploy: Run) -> Run:
    return fleet.deploy()


def test_first_deploy_sets_up_every_host(fleet: Fleet, first_deploy: Run):
    assert first_deploy.returncode == 0, str(first_deploy)
    assert first_deploy.errors() == []

    changed_hosts = {host for _, host in first_deploy.changes()}
    assert changed_hosts == {fleet.hub.name, *(a.name for a in fleet.yodas.values())}


def test_second_deploy_changes_nothing(second_deploy: Run):
    assert second_deploy.returncode == 0, str(second_deploy)
    assert second_deploy.changes() == []
    assert second_deploy.errors() == []


def test_dry_run_after_a_deploy_plans_nothing(fleet: Fleet, second_deploy: Run):
    dry = fleet.deploy("--dry")

    assert dry.returncode == 0, str(dry)
    assert dry.planned() == []


def test_every_operation_is_named_as_a_plan_step(first_deploy: Run):
    names = [operation["name"].split(" | ")[-1] for operation in first_deploy.results["operations"]]

    for name in names:
        verb = name.split()[0]
        # Sentence case, no period, and a verb in the imperative ("Install", not "Installs").
        assert re.fullmatch(r"[A-Z][^A-Z].*[^.\s]", name), name
        assert not re.search(r"(ing|ed|s)$", verb), name


@pytest.mark.parametrize("key", ["a", "b"])
def test_units_pass_systemd_analyze_verify(fleet: Fleet, second_deploy: Run, key: str):
    account = fleet.yodas[key]
    units = sorted(str(path) for path in (account.home / ".config/systemd/user").glob("coord-*"))
    assert len(units) == 5

    # As the user itself (%h is whoever runs it), with a runtime folder of its own.
    script = 'export XDG_RUNTIME_DIR="$(mktemp -d)"; systemd-analyze --user verify "$@"'
    result = fleet.run(key, "sh", "-c", script, "verify", *units)

    assert (result.returncode, result.stderr) == (0, "")


def unit_property(fleet: Fleet, key: str, unit: str, name: str) -> str:
    shown = fleet.ok(key, "systemctl", "--user", "show", "-p", name, "--value", unit)
    return shown.strip()


def run_service(fleet: Fleet, key: str, service: str) -> None:
    """Start a timer's service now, as the timer would, and wait for it to finish well."""
    fleet.ok(key, "systemctl", "--user", "start", service, timeout=90)
    assert unit_property(fleet, key, service, "Result") == "success"


def test_timers_services_sync_the_clone_and_send_heartbeats(fleet: Fleet, second_deploy: Run):
    fleet.ok("a", "coord-claim", "login page", "30")

    run_service(fleet, "b", "coord-sync.service")
    run_service(fleet, "a", "coord-heartbeat.service")
    run_service(fleet, "b", "coord-heartbeat.service")

    clone = fleet.yodas["b"].home / ".local/share/coord/state/coordination/claims"
    assert (clone / "yoda-a.md").is_file(), "coord-sync on b did not bring a's claim"
    records = fleet.hub.home / "coord" / "heartbeats"
    assert sorted(path.name for path in records.iterdir()) == ["yoda-a", "yoda-b"]
    assert "login page" in (records / "yoda-a").read_text()


def test_a_poke_from_one_yoda_reaches_the_others_mirror(fleet: Fleet, second_deploy: Run):
    assert unit_property(fleet, "b", "coord-watch.service", "ActiveState") == "active"
    mirror = fleet.yodas["b"].home / ".local/state/coord/mirror/poke.log"

    fleet.ok("a", "coord-announce", "is anyone on the login page? ünïcode too")

    def arrived():
        text = mirror.read_text() if mirror.exists() else ""
        return "is anyone on the login page?" in text

    assert eventually(arrived, timeout=20), f"not in b's mirror: {mirror}"


def test_audit_passes_on_every_host(fleet: Fleet, second_deploy: Run):
    # Heartbeats first, so that the audit finds every Yoda live.
    for key in fleet.yodas:
        run_service(fleet, key, "coord-heartbeat.service")

    audit = fleet.audit()

    assert audit.returncode == 0, audit.stdout[-6000:] + audit.stderr[-2000:]
    for account in [fleet.hub, *fleet.yodas.values()]:
        assert f"[{account.name}" in audit.stdout, f"no audit test names {account.name}"


def test_audit_fails_on_a_host_that_drifted(fleet: Fleet, second_deploy: Run):
    account = fleet.yodas["a"]
    config = account.home / ".config/coord/config"
    kept = config.read_bytes()
    config.write_bytes(kept.replace(b"live_seconds = 90", b"live_seconds = 91"))
    try:
        audit = fleet.audit("-k", "settings")
    finally:
        config.write_bytes(kept)

    assert audit.returncode == 1
    failed = re.findall(r"FAILED \S+::(\S+)", audit.stdout)
    assert failed == [f"test_settings_are_the_deployed_ones[{account.name}]"]


def test_dry_run_on_macos_plans_launchd_agents(fleet: Fleet, second_deploy: Run):
    dry = fleet.deploy("--dry", "--data", "coord_scheduler=launchd")

    steps = {name.split(" | ")[-1] for name, _ in dry.planned()}
    assert dry.returncode == 0, str(dry)
    for job in ("coord-sync", "coord-heartbeat", "coord-watch"):
        assert {f"Write the {job} agent", f"Load the {job} agent"} <= steps
    assert not [step for step in steps if "systemd" in step or ".timer" in step]


def test_dry_run_with_sudo_plans_lingering(fleet: Fleet, second_deploy: Run):
    dry = fleet.deploy("--dry", "--data", "coord_use_sudo=true")

    assert dry.returncode == 0, str(dry)
    assert sorted(host for name, host in dry.planned() if "without a login" in name) == sorted(
        account.name for account in fleet.yodas.values()
    )


def main_pid(fleet: Fleet, key: str) -> str:
    return unit_property(fleet, key, "coord-watch.service", "MainPID")


def test_new_runtime_replaces_the_old_and_restarts_the_watch(fleet: Fleet, second_deploy: Run):
    before = {key: main_pid(fleet, key) for key in fleet.yodas}
    init = fleet.project / "runtime" / "coord" / "__init__.py"
    old = re.search(r'__version__ = "([^"]+)"', init.read_text()).group(1)
    init.write_text(init.read_text().replace(f'"{old}"', f'"{old}.post1"'))

    upgrade = fleet.deploy()

    assert upgrade.returncode == 0, str(upgrade)
    steps = {name.split(" | ")[-1] for name, _ in upgrade.changes()}
    assert steps == {
        f"Install the coord runtime {old}.post1",
        f"Point the current runtime at {old}.post1",
        "Remove other runtime versions",
        "Enable and start coord-watch.service",
    }
    for key, account in fleet.yodas.items():
        versions = sorted(
            p.name for p in (account.home / ".local/share/llamaclaw-parallelism").iterdir()
        )
        assert versions == [f"{old}.post1", "current"]
        assert main_pid(fleet, key) not in ("0", before[key])
        assert fleet.ok(key, "coord", "--version").strip() == f"coord {old}.post1"


@pytest.fixture(scope="session")
def user_edits(fleet: Fleet, second_deploy: Run, before_b) -> dict[str, bytes]:
    """Yoda b's user adds lines above and below coord's own in each file coord edited;
    the bytes an uninstall must give back."""
    home = fleet.yodas["b"].home
    expected = {}
    for name in [".bashrc", ".zshrc", ".ssh/config"]:
        path = home / name
        path.write_bytes(LATER_BEFORE.encode() + path.read_bytes() + LATER_AFTER.encode())
        expected[name] = (LATER_BEFORE + before_b[name] + LATER_AFTER).encode()
    return expected


@pytest.fixture(scope="session")
def uninstall_b(fleet: Fleet, user_edits, before_b) -> Run:
    return fleet.deploy("--limit", fleet.yodas["b"].name, "--data", "coord_state=absent")


def test_uninstall_removes_coord_from_that_host_only(fleet: Fleet, uninstall_b: Run):
    assert uninstall_b.returncode == 0, str(uninstall_b)
    assert uninstall_b.errors() == []
    assert {host for _, host in uninstall_b.changes()} == {fleet.yodas["b"].name}


def test_uninstall_gives_back_the_users_own_bytes(fleet: Fleet, uninstall_b, user_edits):
    home = fleet.yodas["b"].home

    for name, expected in user_edits.items():
        assert (home / name).read_bytes() == expected, name
    assert json.loads((home / ".claude/settings.json").read_text()) == USER_CLAUDE


def test_uninstall_leaves_nothing_but_the_state_clone(fleet: Fleet, before_b, uninstall_b):
    account = fleet.yodas["b"]
    after = home_listing(account.home)
    kept = ".local/share/coord/state"
    edited = {".bashrc", ".zshrc", ".ssh/config", ".claude/settings.json"}

    new = {path: kind for path, kind in after.items() if path not in before_b}
    kept_here = {
        p for p in new if p == kept or p.startswith(kept + "/") or kept.startswith(p + "/")
    }
    left = {path: kind for path, kind in new.items() if path not in kept_here}
    changed = {p for p in before_b if p not in edited and after.get(p) != before_b[p]}

    # Folders such as ~/.local/bin may stay, empty; no file and no link of coord's.
    assert {path for path, kind in left.items() if kind != "dir"} == set()
    assert [path for path in left if "coord" in path] == []
    assert changed == set()
    assert (account.home / kept / ".git").is_dir()


def test_uninstall_stops_every_job(fleet: Fleet, uninstall_b: Run):
    listed = fleet.ok("b", "systemctl", "--user", "list-units", "--all", "--plain", "coord-*")
    uid = fleet.yodas["b"].uid

    assert "coord-" not in listed
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            owner = entry.stat().st_uid
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        assert not (owner == uid and ("coord" in command or command.startswith("ssh "))), command


def test_second_uninstall_changes_nothing(fleet: Fleet, uninstall_b: Run):
    again = fleet.deploy("--limit", fleet.yodas["b"].name, "--data", "coord_state=absent")

    assert again.returncode == 0, str(again)
    assert again.changes() == []


def test_audit_of_the_other_hosts_still_passes(fleet: Fleet, uninstall_b: Run):
    run_service(fleet, "a", "coord-heartbeat.service")

    audit = fleet.audit("--limit", f"{fleet.hub.name},{fleet.yodas['a'].name}")

    assert audit.returncode == 0, audit.stdout[-6000:] + audit.stderr[-2000:]
    assert fleet.yodas["b"].name not in audit.stdout
