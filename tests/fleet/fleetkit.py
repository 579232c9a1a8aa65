"""What the deploy's tests share: running pyinfra and the audit, and the test fleet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from support.loopback import Account, Loopback

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PYINFRA_TIMEOUT = 180

# What a deploy needs of the project: the tests deploy from a copy of these, so that
# edits to the working tree during a run cannot change what was deployed.
PROJECT_PARTS = [
    "inventory.py",
    "deploy.py",
    "group_data",
    "tasks",
    "templates",
    "runtime",
    "hooks",
    "audit",
]


def copy_project(destination: Path) -> Path:
    """Copy the deploy's files to destination, readable by every test account."""
    destination.mkdir(exist_ok=True)
    for name in PROJECT_PARTS:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, destination / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(source, destination / name)
    destination.chmod(0o755)
    return destination


@dataclass
class Run:
    """One pyinfra run: its exit code, its --json document and its log."""

    argv: list[str]
    returncode: int
    document: Optional[dict]
    log: str

    def __str__(self) -> str:
        return f"pyinfra {' '.join(self.argv)} exited {self.returncode}:\n{self.log[-4000:]}"

    @property
    def results(self) -> dict:
        assert self.document and self.document.get("results"), str(self)
        return self.document["results"]

    def changes(self) -> list[tuple[str, str]]:
        """(operation, host) for every operation that changed a host."""
        return [
            (operation["name"], host)
            for operation in self.results["operations"]
            for host in operation["success"]
        ]

    def errors(self) -> list[tuple[str, str]]:
        return [
            (operation["name"], host)
            for operation in self.results["operations"]
            for host in operation["error"]
        ]

    def planned(self) -> list[tuple[str, str]]:
        """(operation, host) for every change a --dry run plans, conditional ones too."""
        assert self.document is not None, str(self)
        return [
            (operation["name"], host)
            for operation in self.document["plan"]
            for host in operation["hosts_with_change"] + operation["hosts_with_conditional_change"]
        ]


def run_pyinfra(project: Path, fleet_file: Optional[Path], *args: str) -> Run:
    """Run the deploy with pyinfra's --json output, from the project folder.

    A --dry run goes without -y: with it pyinfra skips the diff that makes the plan.
    """
    confirm = [] if "--dry" in args else ["-y"]
    argv = ["--json", *confirm, "inventory.py", "deploy.py", *args]
    environment = {key: value for key, value in os.environ.items() if key != "COORD_FLEET"}
    if fleet_file is not None:
        environment["COORD_FLEET"] = str(fleet_file)
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", *argv],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=PYINFRA_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        document = json.loads(result.stdout)
    except ValueError:
        document = None
    return Run(argv, result.returncode, document, result.stderr + result.stdout)


@dataclass
class Fleet:
    loopback: Loopback
    project: Path
    hub: Account
    yodas: dict[str, Account]  # "a" and "b" -> the account
    file: Path
    yoda_ids: dict[str, str] = field(default_factory=dict)

    def deploy(self, *args: str) -> Run:
        return run_pyinfra(self.project, self.file, *args)

    def audit(self, *args: str) -> subprocess.CompletedProcess:
        """The audit, as a user runs it: pytest audit/ against the same fleet file."""
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "audit", *args],
            cwd=self.project,
            env={**os.environ, "COORD_FLEET": str(self.file)},
            capture_output=True,
            text=True,
            timeout=PYINFRA_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )

    def run(self, key: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a command as Yoda key ("a", "b") or "hub", from its home, as its user would."""
        account = self.hub if key == "hub" else self.yodas[key]
        path = f"{account.home}/.local/bin:/usr/local/bin:/usr/bin:/bin"
        return self.loopback.run_as(account, list(argv), env={"PATH": path}, timeout=timeout)

    def ok(self, key: str, *argv: str, timeout: float = 60) -> str:
        result = self.run(key, *argv, timeout=timeout)
        assert result.returncode == 0, f"{argv} as {key} exited {result.returncode}: {result}"
        return result.stdout


def eventually(check, timeout: float = 20.0, pause: float = 0.2):
    """The first true value of check(), polled until timeout (then its last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(pause)


def give_key_for_hub(loopback: Loopback, yoda: Account, hub: Account) -> None:
    """What a user does once per Mac: make a key and authorize it on the hub."""
    made = loopback.run_as(
        yoda, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{yoda.home}/.ssh/id_ed25519"]
    )
    assert made.returncode == 0, made.stderr
    public = (yoda.home / ".ssh" / "id_ed25519.pub").read_text()
    with open(hub.home / ".ssh" / "authorized_keys", "a") as keys:
        keys.write(public)


def write_fleet_file(path: Path, loopback: Loopback, hub: Account, yodas: dict, ids: dict) -> None:
    host_key = " ".join(loopback.known_hosts.read_text().split()[1:3])
    hosts = [
        f"""
        [hosts.{hub.name}]
        ssh_user = "{hub.name}"
        yoda = false
        bare_repository = "coord.git"
        """
    ]
    for key, account in yodas.items():
        hosts.append(
            f"""
            [hosts.{account.name}]
            ssh_user = "{account.name}"
            yoda_id = "{ids[key]}"
            hooks = true
            """
        )
    text = f"""
        # The test fleet: every host is a local user behind the loopback sshd.
        [fleet]
        hub = "{hub.name}"
        remote = "{hub.name}:coord.git"
        hub_host_key = "{host_key}"
        ssh_hostname = "127.0.0.1"
        ssh_port = {loopback.port}
        ssh_key = "{loopback.client_key}"
        ssh_known_hosts_file = "{loopback.known_hosts}"
        ssh_strict_host_key_checking = "yes"
        """
    path.write_text(textwrap.dedent(text) + "".join(textwrap.dedent(h) for h in hosts))


def home_listing(home: Path) -> dict[str, str]:
    """Every path below home -> "dir", "link" or the file's bytes as text."""
    found = {}
    for folder, dirnames, filenames in os.walk(home):
        for name in dirnames + filenames:
            path = Path(folder, name)
            relative = str(path.relative_to(home))
            if path.is_symlink():
                found[relative] = "link"
            elif path.is_dir():
                found[relative] = "dir"
            else:
                found[relative] = path.read_bytes().decode(errors="replace")
    return found
