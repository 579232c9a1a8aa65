"""A real fleet on loopback for the deploy's tests: a hub and two Yodas as local users.

The Yodas have real `systemd --user` managers; the hub keeps the coordination
repository and the hub's folder. pyinfra reaches every host over the loopback sshd,
exactly as it would reach Macs and a Raspberry Pi, and the Yodas reach the hub over
ssh through the alias the deploy writes for them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetkit import Fleet, copy_project, give_key_for_hub, write_fleet_file
from support.loopback import Account, Loopback


@pytest.fixture(scope="session")
def project() -> Iterator[Path]:
    """A copy of the project to deploy from, that test accounts can read too.

    Not below pytest's own temporary folder, which pytest keeps private (0700).
    """
    folder = Path(tempfile.mkdtemp(prefix="coord-project-", dir="/tmp"))
    try:
        yield copy_project(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def fleet(loopback: Loopback, project: Path, tmp_path_factory) -> Iterator[Fleet]:
    """Two Yodas ("a", "b", with user managers) and a hub, and the fleet file naming them."""
    made: list[Account] = []
    try:
        hub = loopback.add_account("fhub")
        made.append(hub)
        yodas = {}
        for key in ("a", "b"):
            yodas[key] = loopback.add_account(f"fy{key}", user_manager=True)
            made.append(yodas[key])
            give_key_for_hub(loopback, yodas[key], hub)
        ids = {"a": "yoda-a", "b": "yoda-b"}
        path = tmp_path_factory.mktemp("fleet") / "fleet.toml"
        write_fleet_file(path, loopback, hub, yodas, ids)
        yield Fleet(loopback, project, hub, yodas, path, ids)
    finally:
        for account in reversed(made):
            loopback.remove_account(account)
