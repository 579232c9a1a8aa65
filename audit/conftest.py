"""The audit: checks every host of the deploy's inventory with pytest-testinfra.

    pytest audit/                                   every host of the fleet file
    COORD_FLEET=~/fleet.toml pytest audit/          another fleet file
    pytest audit/ --limit mac-1,zeus                some hosts only

The hosts, their data and the paths expected on them come from the same inventory.py,
group_data/ and helpers.make_plan as the deploy, so the audit checks what the deploy
meant to do. Each test's id names the host it checked. Hosts are reached over ssh with
one shared connection each (ControlMaster), as testinfra otherwise opens a connection
per command.
"""

from __future__ import annotations

import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tasks.helpers import RC_FILES, Plan, jobs, make_plan  # noqa: E402


def pytest_addoption(parser):
    group = parser.getgroup("coord audit")
    group.addoption(
        "--limit",
        default="",
        help="comma-separated host names to audit (default: every host of the inventory)",
    )


@dataclass
class FleetHost:
    """One host of the inventory, as the audit sees it."""

    name: str
    data: dict[str, Any]
    groups: tuple[str, ...]
    _host: Any = None
    _plan: Optional[Plan] = None

    def __str__(self) -> str:
        return self.name

    @property
    def host(self):
        """The testinfra host (connected on first use)."""
        if self._host is None:
            self._host = _connect(self)
        return self._host

    @property
    def plan(self) -> Plan:
        """What the deploy put on this host: the deploy's own plan, from this host's facts."""
        if self._plan is None:
            home = self.run('printf %s "$HOME"').rstrip("/")
            shell = self.run(
                'getent passwd "$(id -un)" 2>/dev/null | cut -d: -f7;'
                ' dscl . -read "/Users/$(id -un)" UserShell 2>/dev/null | sed "s/^UserShell: *//"'
            )
            existing = tuple(name for name in RC_FILES.values() if self.exists(f"{home}/{name}"))
            self._plan = make_plan(
                self.data,
                home=home,
                kernel=self.run("uname -s").strip(),
                login_shell=(shell.split() or [""])[0],
                existing_rc=existing,
                user=self.run("id -un").strip(),
            )
        return self._plan

    def run(self, command: str) -> str:
        """Run a shell command that must succeed; its stdout."""
        result = self.host.run(command)
        assert result.rc == 0, f"{self.name}: {command!r} exited {result.rc}: {result.stderr}"
        return result.stdout

    def exists(self, path: str) -> bool:
        return self.host.run(f"test -e {shlex.quote(path)}").rc == 0


def _load_data(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return {
        key: value
        for key, value in runpy.run_path(str(path)).items()
        if not key.startswith("_") and not callable(value) and not hasattr(value, "__file__")
    }


def _inventory() -> list[FleetHost]:
    groups = runpy.run_path(str(ROOT / "inventory.py"))
    defaults = _load_data(ROOT / "group_data" / "all.py")
    hosts: dict[str, FleetHost] = {}
    for group in ("yodas", "hub"):
        group_defaults = _load_data(ROOT / "group_data" / f"{group}.py")
        for name, data in groups.get(group, []):
            if name not in hosts:
                hosts[name] = FleetHost(name, dict(defaults), ())
            fleet_host = hosts[name]
            fleet_host.data.update(group_defaults)
            fleet_host.data.update(data)
            fleet_host.groups += (group,)
    return list(hosts.values())


def _ssh_config(hosts: list[FleetHost], control: str) -> str:
    lines = ["# Written by the coord audit for one run."]
    for fleet_host in hosts:
        data = fleet_host.data
        if fleet_host.name.startswith("@"):
            continue
        lines += [
            f"Host {fleet_host.name}",
            f"    HostName {data.get('ssh_hostname') or fleet_host.name}",
            f"    Port {data.get('ssh_port') or 22}",
            "    BatchMode yes",
            "    ControlMaster auto",
            f"    ControlPath {control}/%C",
            "    ControlPersist 60",
        ]
        if data.get("ssh_user"):
            lines.append(f"    User {data['ssh_user']}")
        if data.get("ssh_key"):
            lines += [f"    IdentityFile {data['ssh_key']}", "    IdentitiesOnly yes"]
        if data.get("ssh_known_hosts_file"):
            lines.append(f"    UserKnownHostsFile {data['ssh_known_hosts_file']}")
        if data.get("ssh_strict_host_key_checking"):
            lines.append(f"    StrictHostKeyChecking {data['ssh_strict_host_key_checking']}")
    config = Path(control) / "ssh_config"
    config.write_text("\n".join(lines) + "\n")
    return str(config)


class _Fleet:
    """The inventory's hosts and the ssh config that reaches them, for one pytest run."""

    hosts: list[FleetHost] = []
    control = ""
    ssh_config = ""


def _connect(fleet_host: FleetHost):
    if fleet_host.name.startswith("@local"):
        return testinfra.get_host("local://")
    return testinfra.get_host(f"ssh://{fleet_host.name}", ssh_config=_Fleet.ssh_config)


def pytest_configure(config):
    try:
        hosts = _inventory()
    except SystemExit as error:  # inventory.py's one-line report of a bad fleet file
        raise pytest.UsageError(str(error)) from None
    wanted = [name for name in config.getoption("--limit").split(",") if name]
    unknown = sorted(set(wanted) - {fleet_host.name for fleet_host in hosts})
    if unknown:
        raise pytest.UsageError(f"--limit: no host {unknown[0]!r} in the inventory")
    _Fleet.hosts = [h for h in hosts if not wanted or h.name in wanted]
    _Fleet.control = tempfile.mkdtemp(prefix="coord-audit-")
    _Fleet.ssh_config = _ssh_config(_Fleet.hosts, _Fleet.control)


def pytest_generate_tests(metafunc):
    """``node`` is every host, ``yoda`` each Yoda, ``hub`` the hub, ``job`` each background
    job; the id names the host."""
    hosts = _Fleet.hosts
    yodas = [h for h in hosts if "yodas" in h.groups]
    for fixture, members in [
        ("node", hosts),
        ("yoda", yodas),
        # A Yoda on another machine than the hub reaches it over ssh.
        ("remote_yoda", [h for h in yodas if not h.data.get("coord_is_hub")]),
        ("hub", [h for h in hosts if "hub" in h.groups]),
    ]:
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, members, ids=[h.name for h in members])
    if "job" in metafunc.fixturenames:
        metafunc.parametrize("job", jobs(), ids=[job.name for job in jobs()])


@pytest.fixture(scope="session")
def fleet() -> list[FleetHost]:
    """Every host being audited."""
    return _Fleet.hosts


def pytest_unconfigure(config):
    # Ask the shared connections to end now rather than linger for their ControlPersist.
    for fleet_host in _Fleet.hosts:
        if fleet_host._host is not None and not fleet_host.name.startswith("@"):
            subprocess.run(
                ["ssh", "-F", _Fleet.ssh_config, "-O", "exit", fleet_host.name],
                capture_output=True,
                check=False,
            )
    if _Fleet.control:
        shutil.rmtree(_Fleet.control, ignore_errors=True)
