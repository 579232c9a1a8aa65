"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest
from support.yodas import Team

pytest_plugins = ["support.fixtures"]


@pytest.fixture
def team(tmp_path):
    """A bare coordination remote; ``team.yoda(name)`` clones it for a new Yoda."""
    return Team(tmp_path)
