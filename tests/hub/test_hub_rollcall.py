"""Roll-calls: coord-call, coord-checkin and coord-tally through a real hub, and their formats."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from coord import rollcall
from coord.errors import UsageError
from coord.pokes import Poke, format_poke, parse_poke


def call_id_of(first_line: str) -> str:
    assert first_line.startswith("call "), first_line
    return first_line.split()[1].rstrip(":")


def tally(yoda, *args: str) -> list[dict]:
    return json.loads(yoda.ok("tally", "--json", *args).stdout)["calls"]


def test_a_call_reaches_quorum_when_enough_others_check_in(crew, hub, background):
    alice, bob, carol = crew("alice"), crew("bob"), crew("carol")
    caller = background(alice, "call", "deploy freeze?", "--expect", "2", "--timeout", "60s")
    caller.read_until(lambda out: len(out) >= 2)
    call_id = call_id_of(caller.output[0])

    bob.ok("checkin", call_id, "frozen on my side")
    latest = carol.ok("checkin", "--latest")
    code = caller.wait(timeout=15)

    assert code == 0, caller.stderr
    assert caller.output[-1] == "quorum: 2 of 2 answered (bob, carol)\n"
    assert "  bob checked in: frozen on my side\n" in caller.output
    assert latest.stdout.startswith(f"checked in to {call_id} (alice: deploy freeze?)")
    [entry] = tally(bob, call_id)
    assert entry["status"] == "quorum" and entry["yoda"] == "alice"
    assert [(a["yoda"], a["note"]) for a in entry["answered"]] == [
        ("bob", "frozen on my side"),
        ("carol", ""),
    ]
    # The call is in the durable log too, its event id being the call id.
    events = [line.split() for line in (alice.coord / "log.md").read_text().splitlines()]
    assert [event[3:5] for event in events if event[:1] == ["-"]] == [["CALL", call_id]]


def test_a_call_that_nobody_answers_times_out_with_exit_2(crew, hub):
    alice, bob = crew("alice"), crew("bob")

    started = time.monotonic()
    result = alice.run("call", "anyone?", "--expect", "1", "--timeout", "1s")
    elapsed = time.monotonic() - started
    shown = bob.ok("tally").stdout

    assert result.returncode == 2, result.stderr
    assert result.stdout.splitlines()[-1] == "timed out: 0 of 1 answered (nobody)"
    assert elapsed < 6
    assert "0 of 1 answered, closed" in shown


def test_expect_zero_only_broadcasts(crew, hub):
    alice, bob = crew("alice"), crew("bob")

    started = time.monotonic()
    result = alice.ok("call", "lunch at one", "--expect", "0")
    elapsed = time.monotonic() - started
    call_id = call_id_of(result.stdout.splitlines()[0])
    bob.ok("checkin", "--latest", "coming")

    assert elapsed < 5
    [poke] = [parse_poke(line) for line in hub.lines() if " CALL " in line]
    assert rollcall.call_of(poke).call_id == call_id
    [entry] = tally(bob, "--open")
    assert entry["status"] == "quorum" and entry["answered"][0]["note"] == "coming"


def test_checkin_refuses_what_it_cannot_answer(crew, hub):
    alice, bob = crew("alice"), crew("bob")

    nothing_yet = bob.run("checkin", "--latest")
    own_id = call_id_of(alice.ok("call", "mine", "--expect", "0").stdout.splitlines()[0])
    own = alice.run("checkin", own_id)
    unknown = bob.run("checkin", "0badca11")
    malformed = bob.run("checkin", "$(touch x)")
    too_many = bob.run("checkin", own_id, "a", "b")
    neither = bob.run("checkin")

    assert nothing_yet.returncode == 1 and "no roll-call" in nothing_yet.stderr
    assert own.returncode == 1 and "my own call" in own.stderr
    assert unknown.returncode == 1 and "no roll-call 0badca11" in unknown.stderr
    for usage in (malformed, too_many, neither):
        assert usage.returncode == 2, usage.stderr
    for result in (nothing_yet, own, unknown, malformed, too_many, neither):
        assert result.stderr.startswith("coord-checkin: ")
        assert len(result.stderr.splitlines()) == 1
    assert [parse_poke(line).kind for line in hub.lines()] == ["CALL"]


def test_tally_shows_the_latest_the_open_or_every_call(crew, hub):
    alice, bob = crew("alice"), crew("bob")
    old = alice.ok("call", "old", "--expect", "0", env={"COORD_NOW": "2026-01-01T00:00:00Z"})
    new = alice.ok(
        "call", "new", "--expect", "0", "--timeout", "1h", env={"COORD_NOW": "2099-01-01T00:00:00Z"}
    )
    old_id = call_id_of(old.stdout.splitlines()[0])
    new_id = call_id_of(new.stdout.splitlines()[0])
    bob.ok("checkin", old_id, "late answer")

    everything = tally(bob, "--all")
    still_open = tally(bob, "--open")
    latest = tally(bob)
    shown = bob.ok("tally", old_id).stdout
    conflicting = bob.run("tally", old_id, "--all")

    assert [entry["topic"] for entry in everything] == ["old", "new"]
    assert [entry["topic"] for entry in still_open] == ["new"]
    assert latest == still_open
    assert still_open[0]["call_id"] == new_id
    assert everything[0]["answered"][0]["late"] is True
    assert shown.splitlines()[0].startswith(f"call {old_id} by alice: old  1 of 0 answered")
    assert "(late)  late answer" in shown.splitlines()[1]
    assert conflicting.returncode == 2


# -- formats ---------------------------------------------------------------------

NOW = datetime(2026, 12, 3, 16, 47, 5, tzinfo=timezone.utc)
TOPICS = ["deploy freeze?", "two\nlines", "  spaces  ", "3f2a9c1e 2 2026-12-03T16:57:05Z x", ""]


@pytest.mark.parametrize("topic", TOPICS, ids=range(len(TOPICS)))
def test_a_call_round_trips_through_a_poke_line(topic):
    deadline = NOW + timedelta(minutes=10)
    text = rollcall.format_call_text("3f2a9c1e", 2, deadline, topic)
    line = format_poke(Poke(NOW, "mac-1", "CALL", text))

    call = rollcall.call_of(parse_poke(line))

    assert call == rollcall.Call("3f2a9c1e", "mac-1", NOW, 2, deadline, topic)


@pytest.mark.parametrize("note", TOPICS, ids=range(len(TOPICS)))
def test_a_checkin_round_trips_through_a_poke_line(note):
    line = format_poke(
        Poke(NOW, "mac-2", "CHECKIN", rollcall.format_checkin_text("3f2a9c1e", note))
    )

    assert rollcall.checkin_of(parse_poke(line)) == rollcall.Checkin("3f2a9c1e", "mac-2", NOW, note)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3f2a9c1e",
        "3F2A9C1E 2 2026-12-03T16:57:05Z x",
        "3f2a9c1e two 2026-12-03T16:57:05Z x",
        "3f2a9c1e 2 tomorrow x",
        "3f2a9c1e -2 2026-12-03T16:57:05Z x",
        "3f2a9c1e ² 2026-12-03T16:57:05Z",
    ],
)
def test_a_malformed_call_is_not_a_call(text):
    assert rollcall.parse_call_text(text) is None


def poke(seconds: float, yoda: str, kind: str, text: str) -> Poke:
    return Poke(NOW + timedelta(seconds=seconds), yoda, kind, text)


def test_open_calls_are_those_i_neither_made_nor_answered_before_their_deadline():
    soon, later = NOW + timedelta(minutes=5), NOW + timedelta(minutes=50)
    pokes = [
        poke(0, "bob", "CALL", rollcall.format_call_text("aaaaaaaa", 1, soon, "answered")),
        poke(1, "bob", "CALL", rollcall.format_call_text("bbbbbbbb", 1, later, "open")),
        poke(2, "me", "CALL", rollcall.format_call_text("cccccccc", 1, later, "mine")),
        poke(3, "bob", "CALL", rollcall.format_call_text("dddddddd", 1, soon, "closes soon")),
        poke(4, "me", "CHECKIN", rollcall.format_checkin_text("aaaaaaaa", "here")),
        poke(5, "carol", "CHECKIN", rollcall.format_checkin_text("bbbbbbbb", "")),
        poke(6, "me", "CHECKIN", "ffffffff for a call never seen"),
        poke(7, "bob", "POKE", "noise"),
    ]

    now_open = rollcall.open_calls(pokes, "me", NOW + timedelta(minutes=1))
    after_soon = rollcall.open_calls(pokes, "me", soon)

    assert [call.topic for call in now_open] == ["open", "closes soon"]
    assert [call.topic for call in after_soon] == ["open"]
    assert rollcall.open_calls(pokes, "bob", NOW) == [rollcall.call_of(pokes[2])]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("10m", 600), ("1.5h", 5400), ("45", 45), (" 2m ", 120)]
)
def test_durations(text, seconds):
    assert rollcall.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "10x", "-5m", "25h", "m", "1e3"])
def test_bad_durations(text):
    with pytest.raises(UsageError):
        rollcall.parse_duration(text)
