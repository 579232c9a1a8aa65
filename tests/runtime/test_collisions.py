"""The collision scan: each way a new claim can meet somebody else's work."""

from __future__ import annotations

import pytest


@pytest.fixture
def pair(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "Auth token refresh", "90", "--paths", "src/auth/**")
    return alice, bob


def _work_commit(yoda, path, message):
    """Ordinary project work by *yoda*, pushed to a branch of its own on the remote.

    It is made in a separate working clone, as a person would; the state
    clone only sees it through the remote.
    """
    work = yoda.home / "work"
    if not work.exists():
        yoda.git("clone", "-q", yoda.git("remote", "get-url", "origin").strip(), str(work))
    target = work / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("work\n")
    branch = f"work-{yoda.name}"
    yoda.git("-C", str(work), "checkout", "-q", "-B", branch)
    yoda.git("-C", str(work), "add", path)
    author = f"--author={yoda.name} <{yoda.name}@example.invalid>"
    yoda.git("-C", str(work), "commit", "-q", author, "-m", message)
    yoda.git("-C", str(work), "push", "-q", "origin", branch)


def test_keyword_overlap_with_a_claim_is_refused(pair):
    _, bob = pair

    refused = bob.run("claim", "refresh of the TOKEN cache", "30")

    assert refused.returncode == 3
    assert "alice: claim 'Auth token refresh'" in refused.stderr
    assert "keywords refresh, token" in refused.stderr
    assert "use --force or COORD_FORCE=1" in refused.stderr
    assert bob.check_json("--mine")["claims"] == []


def test_glob_overlap_with_a_claim_is_refused(pair):
    _, bob = pair

    refused = bob.run("claim", "login page", "30", "--paths", "src/auth/login.py")

    assert refused.returncode == 3
    assert "paths src/auth/login.py ~ src/auth/**" in refused.stderr


def test_unrelated_claim_is_accepted(pair):
    _, bob = pair

    bob.ok("claim", "frontend colours", "30", "--paths", "src/ui/**")


def test_recent_commit_message_is_a_collision(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    _work_commit(alice, "lib/cache.py", "Speed up the billing cache")
    bob.ok("sync")

    refused = bob.run("claim", "billing export", "30")

    assert refused.returncode == 3
    assert "alice: commit" in refused.stderr
    assert "'Speed up the billing cache'" in refused.stderr
    assert "keywords billing" in refused.stderr


def test_recent_commit_files_are_a_collision(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    _work_commit(alice, "lib/pay/stripe.py", "Rework things")

    refused = bob.run("claim", "payments", "30", "--paths", "lib/pay")

    assert refused.returncode == 3
    assert "files lib/pay/stripe.py ~ lib/pay" in refused.stderr


def test_old_commits_and_my_own_commits_do_not_collide(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    _work_commit(alice, "lib/cache.py", "Speed up the billing cache")
    _work_commit(bob, "lib/report.py", "Report generator")

    later = {"COORD_NOW": "2099-01-01T00:00:00Z"}
    bob.ok("claim", "billing export", "30", env=later)
    bob.ok("claim", "report generator", "30")


def test_the_scan_window_is_configurable(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    _work_commit(alice, "lib/cache.py", "Speed up the billing cache")
    two_days = {"COORD_NOW": "2099-01-01T00:00:00Z", "COORD_SCAN_HOURS": "1000000"}

    assert bob.run("claim", "billing export", "30", env=two_days).returncode == 3


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_force_claims_anyway(pair, how):
    alice, bob = pair
    if how == "flag":
        bob.ok("claim", "token refresh", "30", "--force")
    else:
        bob.ok("claim", "token refresh", "30", env={"COORD_FORCE": "1"})

    alice.ok("sync")
    assert {claim["yoda"] for claim in alice.check_json()["claims"]} == {"alice", "bob"}


def test_a_terminal_is_asked(pair):
    """On a terminal the scan asks y/N; the answer decides."""
    import os
    import pty
    import subprocess

    from support.yodas import BIN, PYTHON

    _, bob = pair
    outcomes = {}
    for answer in ("n", "y"):
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [PYTHON, str(BIN / "coord-claim"), "token refresh", "30"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=bob.env,
        )
        os.close(follower)
        os.write(leader, f"{answer}\n".encode())
        process.communicate(timeout=60)
        os.close(leader)
        outcomes[answer] = process.returncode

    assert outcomes == {"n": 3, "y": 0}
