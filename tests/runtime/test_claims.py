"""Claims travel between Yodas through a real bare remote."""

from __future__ import annotations

import json
import subprocess

import pytest
from support.yodas import BIN, PYTHON


def test_claim_is_seen_by_another_yoda_after_sync(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")

    made = alice.ok("claim", "auth refactor", "90", "--paths", "src/auth/**", "--note", "tokens")
    bob.ok("sync")
    survey = bob.check_json()

    assert "claimed auth refactor for 90 min" in made.stdout
    [claim] = survey["claims"]
    assert claim["yoda"] == "alice"
    assert claim["topic"] == "auth refactor"
    assert claim["paths"] == ["src/auth/**"]
    assert claim["ttl_minutes"] == 90
    assert claim["note"] == "tokens"
    assert claim["mine"] is False
    assert claim["expired"] is False and claim["stale"] is False
    assert survey["yoda_id"] == "bob"
    assert survey["unreadable"] == []


def test_check_table_and_mine_filter(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "database migration", "30")
    bob.ok("claim", "frontend colours", "30")

    table = bob.ok("check").stdout
    mine = bob.check_json("--mine")

    assert "alice" in table and "database migration" in table
    assert "bob" in table and "frontend colours" in table
    assert [claim["topic"] for claim in mine["claims"]] == ["frontend colours"]


def test_claiming_the_same_topic_again_renews_it(team):
    alice = team.yoda("alice")
    alice.ok("claim", "auth refactor", "10")
    alice.ok("claim", "auth refactor", "60", env={"COORD_NOW": "2030-01-01T00:00:00Z"})

    [claim] = alice.check_json()["claims"]
    assert claim["ttl_minutes"] == 60
    assert claim["claimed_at"] == "2030-01-01T00:00:00Z"


def test_release_closes_the_claim_and_logs_it(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "auth refactor", "90")

    released = alice.ok("release", "merged in main")
    bob.ok("sync")

    assert "released auth refactor" in released.stdout
    assert bob.check_json()["claims"] == []
    log = (bob.coord / "log.md").read_text()
    assert "alice CLAIM" in log
    assert "alice RELEASE" in log and "auth refactor (note: merged in main)" in log


def test_release_with_several_claims_needs_a_topic_or_all(team):
    alice = team.yoda("alice")
    alice.ok("claim", "database migration", "30")
    alice.ok("claim", "frontend colours", "30")

    ambiguous = alice.run("release")
    assert ambiguous.returncode == 2
    assert "coord-release: I hold 2 claims" in ambiguous.stderr

    alice.ok("release", "--topic", "frontend colours")
    assert [c["topic"] for c in alice.check_json()["claims"]] == ["database migration"]

    missing = alice.run("release", "--topic", "nothing like it")
    assert missing.returncode == 1
    assert "no claim on" in missing.stderr

    alice.ok("release", "--all")
    assert alice.check_json()["claims"] == []
    assert not (alice.coord / "claims" / "alice.md").exists()


def test_release_with_nothing_held_is_harmless(team):
    alice = team.yoda("alice")
    result = alice.ok("release")
    assert "no claim to release" in result.stdout


@pytest.mark.parametrize(
    ("now", "expired", "stale"),
    [
        ("2026-12-03T10:59:00Z", False, False),
        ("2026-12-03T11:00:00Z", True, False),
        ("2026-12-03T11:59:59Z", True, False),
        ("2026-12-03T12:00:00Z", True, True),
    ],
)
def test_expiry_and_staleness_follow_the_clock(team, now, expired, stale):
    alice = team.yoda("alice", COORD_NOW="2026-12-03T10:00:00Z")
    alice.ok("claim", "auth refactor", "60")

    [claim] = json.loads(alice.ok("check", "--json", env={"COORD_NOW": now}).stdout)["claims"]
    table = alice.ok("check", env={"COORD_NOW": now}).stdout

    assert claim["expired"] is expired
    assert claim["stale"] is stale
    assert ("[stale]" in table) is stale
    assert ("[expired]" in table) is (expired and not stale)


def test_an_expired_claim_does_not_block_others(team):
    alice = team.yoda("alice", COORD_NOW="2026-12-03T10:00:00Z")
    bob = team.yoda("bob", COORD_NOW="2026-12-03T12:00:00Z")
    alice.ok("claim", "auth refactor", "60")
    bob.ok("sync")

    bob.ok("claim", "auth refactor", "60")


def test_commands_run_in_place_and_through_coord(team):
    alice = team.yoda("alice")
    version = alice.run("check", "--version")
    through = subprocess.run(
        [PYTHON, str(BIN / "coord"), "check", "--json"],
        env=alice.env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert version.stdout.startswith("coord ")
    assert through.returncode == 0 and json.loads(through.stdout)["claims"] == []
    for name in ("claim", "release", "check", "sync"):
        assert (BIN / f"coord-{name}").exists()
        helped = alice.run(name, "--help")
        assert helped.returncode == 0 and f"coord-{name}" in helped.stdout
