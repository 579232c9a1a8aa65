"""The mirror through outages: hub restarts, its own restarts, a replaced log, a crash."""

from __future__ import annotations

import os
import time
from pathlib import Path

from coord.pokes import parse_poke
from hubkit import eventually


def mirror_dir(yoda) -> Path:
    return yoda.home / ".local" / "state" / "coord" / "mirror"


def poke_texts(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return [poke.text for poke in map(parse_poke, lines) if poke is not None]


def hub_side_followers(uid: int) -> list[str]:
    """Command lines of the hub program's followers running as the hub's user."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"follow" in argv and any(word.startswith(b"python") for word in argv):
            found.append(" ".join(word.decode(errors="replace") for word in argv[-7:]))
    return found


def test_the_mirror_survives_a_hub_restart_with_every_poke_once(
    crew, hub, loopback, background, hub_account
):
    alice, bob = crew("alice"), crew("bob")
    mirror = background(bob, "watch", "--mirror", "--retry-max", "0.5")
    for number in range(3):
        alice.ok("announce", f"before {number}")
    copy = mirror_dir(bob) / "poke.log"
    eventually(lambda: len(poke_texts(copy)) == 3)

    loopback.stop_sshd()
    try:
        started = time.monotonic()
        lost = alice.run("announce", "while the hub is down")
        elapsed = time.monotonic() - started
        # Written on the hub itself while nobody can reach it.
        local = {"COORD_HUB": "local", "COORD_HUB_DIR": str(hub.path)}
        alice.ok("announce", "written on the hub during the outage", env=local)
    finally:
        loopback.start_sshd()
    for number in range(3):
        alice.ok("announce", f"after {number}")

    expected = [f"before {n}" for n in range(3)]
    expected += ["written on the hub during the outage"] + [f"after {n}" for n in range(3)]
    eventually(lambda: poke_texts(copy) == expected, timeout=15)
    assert copy.read_bytes() == hub.log.read_bytes()
    assert lost.returncode == 0 and elapsed < 3
    assert lost.stderr.startswith("coord-announce: warning: not sent: the hub (")
    assert "unreachable" in mirror.stderr and mirror.process.poll() is None


def test_the_mirror_resumes_after_its_own_restart_without_repeats(crew, hub, background):
    alice, bob = crew("alice"), crew("bob")
    copy = mirror_dir(bob) / "poke.log"
    snapshot = mirror_dir(bob) / "presence.json"
    first = background(bob, "watch", "--mirror")
    alice.ok("announce", "one")
    alice.ok("heartbeat")
    eventually(lambda: len(poke_texts(copy)) == 2 and snapshot.exists())

    assert first.stop() == 0
    alice.ok("announce", "two")
    # As if the last run had died in the middle of a write, and lost its snapshot.
    with open(copy, "ab") as torn:
        torn.write(b"2026-12-03T16:47:05.123Z alice POKE half a li")
    snapshot.unlink()
    second = background(bob, "watch", "--mirror")
    alice.ok("announce", "three")

    eventually(lambda: copy.read_bytes() == hub.log.read_bytes())
    assert [text for text in poke_texts(copy) if not text.startswith("{")] == [
        "one",
        "two",
        "three",
    ]
    eventually(snapshot.exists)
    assert '"alice"' in snapshot.read_text()
    assert second.process.poll() is None, second.stderr


def test_a_replaced_hub_log_is_followed_from_its_start(crew, hub, background):
    alice, bob = crew("alice"), crew("bob")
    copy = mirror_dir(bob) / "poke.log"
    mirror = background(bob, "watch", "--mirror")
    alice.ok("announce", "in the old log")
    eventually(lambda: poke_texts(copy) == ["in the old log"])

    hub.log.rename(hub.log.with_name("poke.log.1"))
    alice.ok("announce", "in the new log")

    eventually(lambda: poke_texts(copy) == ["in the old log", "in the new log"])
    eventually(lambda: "new poke log" in mirror.stderr)
    # Restarted, it knows where it is in the new log.
    assert mirror.stop() == 0
    alice.ok("announce", "after the restart")
    background(bob, "watch", "--mirror")
    eventually(
        lambda: poke_texts(copy) == ["in the old log", "in the new log", "after the restart"]
    )


def test_one_mirror_per_host_and_no_follower_left_on_the_hub(crew, hub, background, hub_account):
    bob = crew("bob")
    first = background(bob, "watch", "--mirror")
    eventually(lambda: (mirror_dir(bob) / "poke.log").exists())
    eventually(lambda: hub.path.name in " ".join(hub_side_followers(hub_account.uid)))

    second = bob.run("watch", "--mirror", timeout=10)
    stopped = first.stop()

    assert second.returncode == 1
    assert second.stderr.startswith("coord-watch: another coord-watch --mirror already keeps")
    assert stopped == 0
    # The hub side ends with the client, not at its next keepalive.
    eventually(lambda: hub.path.name not in " ".join(hub_side_followers(hub_account.uid)), 5)


def test_watch_resumes_after_a_hub_restart(crew, loopback, background):
    alice, bob = crew("alice"), crew("bob")
    watcher = background(bob, "watch", "--raw", "--retry-max", "0.5")
    alice.ok("announce", "first")
    watcher.read_until(lambda out: len(out) == 1)

    loopback.stop_sshd()
    loopback.start_sshd()
    alice.ok("announce", "second")

    watcher.read_until(lambda out: len(out) == 2)
    assert [parse_poke(line).text for line in watcher.output] == ["first", "second"]
