"""Fixtures shared by every test folder."""

from __future__ import annotations

import sys

import pytest
from support.yodas import ROOT, Team

# Unit tests import the runtime's modules directly, as the hooks do on a host.
sys.path.insert(0, str(ROOT / "runtime"))

pytest_plugins = ["support.fixtures"]


@pytest.fixture
def team(tmp_path):
    """A bare coordination remote; ``team.yoda(name)`` clones it for a new Yoda."""
    return Team(tmp_path)
