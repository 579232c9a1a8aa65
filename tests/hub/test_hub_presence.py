"""Heartbeats, coord-who, the mirror's presence snapshot and DEAD holders in coord-check."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from coord import config as coord_config
from coord import presence
from coord.config import format_time
from coord.pokes import Poke, format_poke, parse_poke
from hubkit import eventually

START = datetime.now(timezone.utc).replace(microsecond=0)


def at(seconds: float) -> dict:
    """An environment whose clock says START + seconds."""
    return {"COORD_NOW": format_time(START + timedelta(seconds=seconds))}


def who(yoda, seconds: float, *args: str) -> dict:
    document = json.loads(yoda.ok("who", "--json", *args, env=at(seconds)).stdout)
    return {entry["yoda"]: entry for entry in document["yodas"]}


def test_heartbeats_age_from_live_to_stale_to_dead_and_left_is_told_apart(crew, hub):
    alice, bob = crew("alice"), crew("bob")
    alice.ok("claim", "auth refactor", "600")

    alice.ok("heartbeat", env=at(0))
    live = who(bob, 10)
    only_live = who(bob, 10, "--live")
    stale = who(bob, 100)
    dead = who(bob, 200)
    table = bob.ok("who", env=at(200)).stdout
    alice.ok("heartbeat", "--left", env=at(210))
    left = who(bob, 500)

    assert live["alice"]["state"] == "LIVE"
    assert live["alice"]["doing"] == ["auth refactor"]
    assert live["alice"]["age_seconds"] == 10
    assert set(only_live) == {"alice"}
    assert stale["alice"]["state"] == "STALE"
    assert dead["alice"]["state"] == "DEAD"
    assert who(bob, 200, "--live") == {}
    assert table.splitlines()[1].split()[:2] == ["alice", "DEAD"]
    assert left["alice"]["state"] == "LEFT" and left["alice"]["left"] is True
    # One record per Yoda on the hub: the last heartbeat line.
    record = (hub.path / "heartbeats" / "alice").read_text()
    assert parse_poke(record).kind == "LEFT"
    assert [parse_poke(line).kind for line in hub.lines() if " CLAIM " not in line] == [
        "HB",
        "LEFT",
    ]
    stamp = alice.home / ".local" / "state" / "coord" / "heartbeat"
    assert stamp.read_text() == record


def test_heartbeat_and_who_with_the_hub_down(crew, hub):
    alice = crew("alice", COORD_HUB="nowhere.invalid")

    sent = alice.run("heartbeat")
    listed = alice.run("who")

    assert sent.returncode == 0
    assert sent.stderr.startswith("coord-heartbeat: warning: not sent: the hub (nowhere.invalid:")
    assert not (alice.home / ".local" / "state" / "coord" / "heartbeat").exists()
    assert listed.returncode == 1 and len(listed.stderr.splitlines()) == 1
    assert "unreachable" in listed.stderr


def test_the_mirror_keeps_presence_and_check_marks_claims_of_dead_holders(crew, hub, background):
    alice, bob = crew("alice"), crew("bob")
    alice.ok("claim", "billing export", "600")
    bob.ok("sync")
    background(bob, "watch", "--mirror")
    snapshot = bob.home / ".local" / "state" / "coord" / "mirror" / "presence.json"
    settings = coord_config.load(bob.env)

    alice.ok("heartbeat", env=at(-3600))
    eventually(lambda: "alice" in presence.read_local(settings))
    dead = bob.check_json()
    dead_table = bob.ok("check").stdout
    alice.ok("heartbeat")
    eventually(lambda: presence.local_states(settings).get("alice") == "LIVE")
    alive = bob.check_json()

    [claim] = dead["claims"]
    assert claim["presence"] == "DEAD" and claim["holder_dead"] is True
    assert "[holder dead]" in dead_table
    [claim] = alive["claims"]
    assert claim["presence"] == "LIVE" and claim["holder_dead"] is False
    record = presence.read_local(settings)["alice"]
    assert record.doing == ("billing export",) and record.left is False
    assert json.loads(snapshot.read_text())["version"] == 1


def test_check_without_any_presence_marks_nothing(crew):
    alice = crew("alice")
    alice.ok("claim", "billing export", "600")

    [claim] = alice.check_json()["claims"]

    assert claim["presence"] is None and claim["holder_dead"] is False


@pytest.mark.parametrize(
    ("age", "left", "state"),
    [
        (-30, False, "LIVE"),
        (0, False, "LIVE"),
        (89.9, False, "LIVE"),
        (90, False, "STALE"),
        (179.9, False, "STALE"),
        (180, False, "DEAD"),
        (5, True, "LEFT"),
        (10_000, True, "LEFT"),
    ],
)
def test_classify(age, left, state):
    record = presence.Heartbeat("mac-1", START, "mac", (), left)

    assert presence.classify(record, START + timedelta(seconds=age), 90, 180) == state


TOPICS = ["plain", "quotes \" ' `x` $(y)", "two\nlines", "héllo ✓ 🚀", '{"json": "inside"}', ""]


def test_heartbeat_text_round_trips_through_a_poke_line():
    poke = Poke(START, "alice", "HB", presence.heartbeat_text("mac-1", TOPICS))
    line = format_poke(poke)

    record = presence.from_line(line)

    assert line.count("\n") == 1
    assert record == presence.Heartbeat("alice", START, "mac-1", tuple(TOPICS), False)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"host": 3}', '{"doing": "x"}'])
def test_a_damaged_heartbeat_is_ignored(text):
    assert presence.from_poke(Poke(START, "alice", "HB", text)) is None


def test_an_empty_heartbeat_still_says_the_yoda_is_alive():
    record = presence.from_poke(Poke(START, "alice", "HB", ""))

    assert record == presence.Heartbeat("alice", START, "", (), False)


@pytest.mark.parametrize("content", ["", "{", "[]", '{"yodas": []}', '{"yodas": {"-x": {}}}'])
def test_a_damaged_snapshot_reads_as_empty(tmp_path, content):
    settings = coord_config.load({"HOME": str(tmp_path), "YODA_ID": "me"})
    path = presence.presence_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text(content)

    assert presence.read_local(settings) == {}
