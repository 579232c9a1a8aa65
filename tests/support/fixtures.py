"""Pytest fixtures for the loopback fleet: one sshd for the session, accounts on demand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable

import pytest

from support.loopback import Account, Loopback, LoopbackError


@pytest.fixture(scope="session")
def loopback() -> Iterator[Loopback]:
    """A started Loopback with no accounts; everything it made is removed at session end."""
    try:
        fleet = Loopback()
    except LoopbackError as error:
        # A failure, not a skip: CI must never pass by quietly testing less.
        pytest.fail(f"cannot start the loopback fleet: {error}", pytrace=False)
    try:
        yield fleet
    finally:
        fleet.close()


@pytest.fixture(scope="session")
def hub_account(loopback: Loopback) -> Account:
    """The hub: an account without a user manager, shared by the whole session."""
    return loopback.add_account("hub")


@pytest.fixture
def make_account(loopback: Loopback) -> Iterator[Callable[..., Account]]:
    """Factory: ``make_account("fleet", user_manager=True)``; removed after the test."""
    made: list[Account] = []

    def make(name_hint: str = "host", user_manager: bool = False) -> Account:
        account = loopback.add_account(name_hint, user_manager=user_manager)
        made.append(account)
        return account

    yield make

    failures = []
    for account in reversed(made):
        try:
            loopback.remove_account(account)
        except LoopbackError as error:
            failures.append(f"{account.name}: {error}")
    if failures:
        pytest.fail("could not remove accounts: " + "; ".join(failures), pytrace=False)
