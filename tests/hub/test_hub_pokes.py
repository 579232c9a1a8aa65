"""Pokes through a real hub over ssh: announce, watch, the mirror, hostile text, concurrency."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from coord.pokes import parse_poke
from hubkit import eventually
from support.yodas import BIN, PYTHON


def texts(lines: list[str], kind: str = "POKE") -> list[str]:
    pokes = [parse_poke(line if line.endswith("\n") else line + "\n") for line in lines]
    return [poke.text for poke in pokes if poke is not None and poke.kind == kind]


def mirror_of(yoda) -> Path:
    return yoda.home / ".local" / "state" / "coord" / "mirror" / "poke.log"


def read_bytes(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def test_announce_is_seen_by_watch_and_kept_in_the_mirror(crew, hub, background):
    alice, bob = crew("alice"), crew("bob")
    alice.ok("announce", "anyone on the login page?")
    mirror = background(bob, "watch", "--mirror")
    watcher = background(bob, "watch", "-n", "5")
    watcher.read_until(lambda out: len(out) >= 1)

    alice.ok("announce", "I am, since noon")
    watcher.read_until(lambda out: len(out) >= 2)

    assert watcher.output[0].endswith(" alice: anyone on the login page?\n")
    assert watcher.output[1].endswith(" alice: I am, since noon\n")
    eventually(
        lambda: len(texts(hub.lines())) == 2 and read_bytes(mirror_of(bob)) == hub.log.read_bytes()
    )
    assert texts(mirror_of(bob).read_text().splitlines(keepends=True)) == [
        "anyone on the login page?",
        "I am, since noon",
    ]
    assert mirror.process.poll() is None, mirror.stderr


def test_hub_files_are_private(crew, hub):
    alice = crew("alice")
    alice.ok("announce", "hello")
    alice.ok("heartbeat")

    assert stat.S_IMODE(hub.path.stat().st_mode) == 0o700
    assert stat.S_IMODE((hub.path / "heartbeats").stat().st_mode) == 0o700
    assert stat.S_IMODE(hub.log.stat().st_mode) == 0o600
    assert stat.S_IMODE((hub.path / "heartbeats" / "alice").stat().st_mode) == 0o600


MARKER = Path("/tmp") / f"coord-injection-{os.getpid()}"

HOSTILE = [
    f"$(touch {MARKER}-1)",
    f"`touch {MARKER}-2`",
    f"; touch {MARKER}-3",
    f"| touch {MARKER}-4",
    f"'; touch {MARKER}-5; '",
    f'"; touch {MARKER}-6; "',
    f"first line\ntouch {MARKER}-7\nthird line",
    "quotes ' \" and a backslash \\ and \\n that is not a newline",
    "non-ASCII: héllo wörld ✓ 日本語 🚀",
    "controls \x1b[31m red \x07 bell \r return \t tab \u2028 separator",
    "  leading and trailing spaces  ",
    "--help",
    "x" * 10_000,
]


def test_hostile_text_travels_verbatim_and_runs_nothing(crew, hub):
    alice, bob = crew("alice"), crew("bob")

    for text in HOSTILE:
        alice.ok("announce", "--", text)
    raw = bob.ok("watch", "--no-follow", "--raw", "-n", "100").stdout
    shown = bob.ok("watch", "--no-follow", "-n", "100").stdout

    assert texts(raw.splitlines()) == HOSTILE
    assert texts(hub.lines()) == HOSTILE
    # Every poke is one line on the hub, whatever it holds.
    assert len(hub.lines()) == len(HOSTILE)
    assert not list(Path("/tmp").glob(f"{MARKER.name}*"))
    # The readable form shows the text as typed, control characters escaped
    # so that a terminal does not obey them.
    assert f"alice: $(touch {MARKER}-1)\n" in shown
    assert "alice: non-ASCII: héllo wörld ✓ 日本語 🚀\n" in shown
    assert "\x1b" not in shown and "\\x1b[31m red \\x07 bell \\r return \t tab \\u2028" in shown
    assert "x" * 10_000 in shown


def test_hostile_hub_folder_name_runs_nothing(team, loopback, hub_account):
    folder = f"coord dir $(touch {MARKER}-dir) `touch {MARKER}-tick` 'q\"'"
    alice = team.yoda(
        "alice",
        COORD_HUB=hub_account.name,
        COORD_SSH=loopback.coord_ssh,
        COORD_HUB_DIR=f"~/{folder}",
    )

    alice.ok("announce", "hello")

    assert texts((hub_account.home / folder / "poke.log").read_text().splitlines()) == ["hello"]
    assert not list(Path("/tmp").glob(f"{MARKER.name}*"))


def test_multiline_text_is_indented_under_its_first_line(crew):
    alice, bob = crew("alice"), crew("bob")
    alice.ok("announce", "two\nlines")

    first, second = bob.ok("watch", "--no-follow").stdout.splitlines()

    assert first.endswith(" alice: two")
    assert second == " " * (len(first) - len("alice: two")) + "lines"


def test_concurrent_big_pokes_never_interleave(crew, hub):
    alice = crew("alice")
    payloads = [chr(ord("a") + number) * 10_000 + f" #{number}" for number in range(8)]

    def send(text: str) -> int:
        return alice.run("announce", text).returncode

    with ThreadPoolExecutor(len(payloads)) as pool:
        codes = list(pool.map(send, payloads))

    assert codes == [0] * len(payloads)
    lines = hub.lines()
    assert all(line.endswith("\n") and parse_poke(line) for line in lines)
    assert sorted(texts(lines)) == sorted(payloads)


def test_on_the_hub_itself_the_files_are_used_directly(team, local_hub):
    alice = team.yoda("alice", **local_hub.env)
    bob = team.yoda("bob", **local_hub.env)

    alice.ok("announce", "from the hub itself")
    alice.ok("heartbeat")
    shown = bob.ok("watch", "--no-follow").stdout
    who = bob.ok("who").stdout

    assert texts(local_hub.lines()) == ["from the hub itself"]
    assert shown.endswith(" alice: from the hub itself\n")
    assert who.splitlines()[1].split()[:2] == ["alice", "LIVE"]
    assert stat.S_IMODE(local_hub.path.stat().st_mode) == 0o700
    assert stat.S_IMODE(local_hub.log.stat().st_mode) == 0o600


def test_claim_and_release_poke_the_hub_and_the_mirror_syncs_at_once(crew, hub, background):
    alice, bob = crew("alice"), crew("bob")
    bob.ok("sync")  # the state clone exists on both sides before the claim
    mirror = background(bob, "watch", "--mirror")
    eventually(lambda: mirror_of(bob).exists())

    claimed = alice.ok("claim", "auth refactor", "60")
    commit = claimed.stdout.strip().rsplit("(", 1)[1].rstrip(")")
    held = bob.coord / "claims" / "alice.md"
    eventually(held.exists)
    [claim] = bob.check_json()["claims"]
    alice.ok("release", "done")
    eventually(lambda: not held.exists())

    [poke] = [parse_poke(line) for line in hub.lines() if " CLAIM " in line]
    full = alice.git("rev-parse", "HEAD~1").strip()
    assert poke.yoda == "alice" and poke.text.split(" ", 1) == [full, "auth refactor"]
    assert full.startswith(commit)
    [release] = [parse_poke(line) for line in hub.lines() if " RELEASE " in line]
    assert release.text.endswith(" auth refactor (note: done)")
    assert claim["topic"] == "auth refactor"
    assert mirror.process.poll() is None, mirror.stderr


def test_bad_input_is_refused_in_one_line(crew, hub):
    alice = crew("alice")

    empty = alice.run("announce", "  ")
    dash_hub = alice.run("announce", "hi", env={"COORD_HUB": f"-oProxyCommand=touch {MARKER}-p"})
    newline_dir = alice.run("announce", "hi", env={"COORD_HUB_DIR": "a\nb"})
    too_long = alice.run("announce", "x" * 20_001)
    bad_lines = alice.run("watch", "-n", "-1")

    for result in (empty, dash_hub, newline_dir, too_long, bad_lines):
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith(("coord-announce: ", "coord-watch: "))
    assert not list(Path("/tmp").glob(f"{MARKER.name}*"))
    assert hub.lines() == []


@pytest.fixture
def silent_hub(tmp_path):
    """A port that accepts connections and never says a word, as a hung host would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host silent\n"
        "    HostName 127.0.0.1\n"
        f"    Port {listener.getsockname()[1]}\n"
        "    StrictHostKeyChecking no\n"
        "    UserKnownHostsFile /dev/null\n"
        "    LogLevel ERROR\n"
    )
    yield {"COORD_HUB": "silent", "COORD_SSH": f"ssh -F {config} -o ConnectTimeout=1"}
    listener.close()


def test_a_silent_hub_costs_announce_one_connect_timeout(crew, silent_hub):
    alice = crew("alice")

    started = time.monotonic()
    result = alice.run("announce", "anyone?", env=silent_hub, timeout=30)
    elapsed = time.monotonic() - started
    who = alice.run("who", env=silent_hub, timeout=30)

    assert result.returncode == 0
    assert result.stderr.startswith("coord-announce: warning: not sent: the hub (silent:")
    assert "unreachable" in result.stderr and len(result.stderr.splitlines()) == 1
    # The user's own ConnectTimeout=1 came first and was kept.
    assert elapsed < 4
    assert who.returncode == 1
    assert who.stderr.startswith("coord-who: the hub (silent:") and "unreachable" in who.stderr


def test_the_commands_answer_help_without_a_hub():
    for name in ("announce", "watch", "heartbeat", "who", "call", "checkin", "tally"):
        result = subprocess.run(
            [PYTHON, str(BIN / f"coord-{name}"), "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert "exit codes:" in result.stdout


WHEN = "2026-12-03T16:47:05.123Z"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("mac-1 POKE hi there", "mac-1: hi there"),
        ('mac-1 HB {"host":"m1","doing":["auth","db"]}', "mac-1 is alive on m1: auth; db"),
        ('mac-1 HB {"host":"m1","doing":[]}', "mac-1 is alive on m1: idle"),
        ('mac-1 LEFT {"host":"m1","doing":[]}', "mac-1 left (m1)"),
        ("mac-1 CLAIM 0123456789abcdef auth refactor", "mac-1 claimed: auth refactor [0123456789]"),
        (
            "mac-1 RELEASE 0123456789abcdef auth (note: done)",
            "mac-1 released: auth (note: done) [0123456789]",
        ),
        ("mac-2 CHECKIN 3f2a9c1e frozen", "mac-2 checked in to 3f2a9c1e: frozen"),
        ("mac-2 CHECKIN 3f2a9c1e ", "mac-2 checked in to 3f2a9c1e"),
        ("mac-2 CHECKIN not-an-id x", "mac-2 CHECKIN not-an-id x"),
        ("mac-2 NEWKIND some text", "mac-2 NEWKIND some text"),
    ],
)
def test_watch_puts_each_kind_in_words(line, words):
    from coord.cli.watch import describe

    assert describe(parse_poke(f"{WHEN} {line}\n")) == words


def test_watch_names_a_call_and_how_to_answer_it():
    from coord.cli.watch import describe

    poke = parse_poke(f"{WHEN} mac-1 CALL 3f2a9c1e 2 2026-12-03T16:57:05Z deploy freeze?\n")

    words = describe(poke)
    assert words.startswith("mac-1 calls the roll 3f2a9c1e, 2 answer(s) by ")
    assert words.endswith(": deploy freeze?  (answer: coord-checkin 3f2a9c1e NOTE)")


@pytest.mark.parametrize(
    ("setting", "local"), [("local", True), ("LOCAL", True), ("zeus", False), ("{host}", True)]
)
def test_the_hub_is_local_by_name_or_by_this_hosts_name(setting, local, tmp_path):
    from coord import config, hub

    host = config.load({"HOME": str(tmp_path), "YODA_ID": "me"}).host
    settings = config.load(
        {"HOME": str(tmp_path), "YODA_ID": "me", "COORD_HUB": setting.format(host=host)}
    )

    assert hub.is_local(settings) is local
    assert (hub.command(settings, "records")[0] == "ssh") is not local


GOOD_LINE = b"2026-12-03T16:47:05.123Z alice POKE hello there\n"


@pytest.mark.parametrize(
    "data",
    [
        b"2026-12-3T16:47:05.123Z alice POKE short date\n",
        b"2026-12-03 16:47:05.123Z alice POKE no T\n",
        b"2026-12-03T16:47:05.123 alice POKE no Z\n",
        b"2026-12-03T16:47:05.123Z ../up POKE bad id\n",
        b"2026-12-03T16:47:05.123Z .hidden POKE bad id\n",
        b"2026-12-03T16:47:05.123Z alice poke lower-case kind\n",
        b"2026-12-03T16:47:05.123Z alice POKE,,HB empty kind\n",
        b"2026-12-03T16:47:05.123Z alice POKE bell \x07 inside\n",
        b"2026-12-03T16:47:05.123Z alice POKE no newline",
        b"2026-12-03T16:47:05.123Z alice\n",
        GOOD_LINE + b"garbage after a good line\n",
    ],
)
def test_the_hub_program_appends_only_poke_lines(tmp_path, data):
    """The program on the hub checks every line itself; a bad batch changes nothing."""
    from coord.hub import HUB_PROGRAM

    def append(payload):
        return subprocess.run(
            [sys.executable, "-I", "-S", "-c", HUB_PROGRAM, "append", str(tmp_path)],
            input=payload,
            capture_output=True,
        )

    accepted = append(GOOD_LINE)
    refused = append(data)

    assert accepted.returncode == 0, accepted.stderr
    assert refused.returncode == 3
    assert b"refused" in refused.stderr
    assert (tmp_path / "poke.log").read_bytes() == GOOD_LINE
