"""Faults and bad input: nothing is lost, nothing is half-written, errors are one line."""

from __future__ import annotations

import fcntl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from support.yodas import BIN, PYTHON, ROOT


def _events(yoda):
    return [line for line in (yoda.coord / "log.md").read_text().splitlines() if line[:2] == "- "]


def test_unreachable_remote_keeps_the_claim_until_the_next_sync(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    away = team.remote.with_name("away.git")
    team.remote.rename(away)

    offline = alice.run("claim", "auth refactor", "60")
    away.rename(team.remote)
    alice.ok("sync")
    alice.ok("sync")
    bob.ok("sync")

    assert offline.returncode == 0
    warnings = [line for line in offline.stderr.splitlines() if line]
    assert len(warnings) >= 1
    assert all(line.startswith("coord-claim: warning: remote unreachable") for line in warnings)
    [claim] = bob.check_json()["claims"]
    assert claim["topic"] == "auth refactor"
    assert [line.split()[3] for line in _events(bob)] == ["CLAIM"]


def test_sync_is_quiet_when_there_is_nothing_to_do(team):
    alice = team.yoda("alice")
    alice.ok("claim", "auth refactor", "60")

    result = alice.ok("sync")

    assert result.stdout == "" and result.stderr == ""


def test_damaged_claim_file_is_reported_and_blocks_nobody(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "auth refactor", "60")
    damaged = alice.coord / "claims" / "alice.md"
    damaged.write_text(damaged.read_text().replace("- ttl: 60 min", "- ttl: sixty"))
    alice.git("commit", "-qam", "hand edit")
    alice.git("push", "-q", "origin", "HEAD")
    bob.ok("sync")

    survey = bob.check_json()
    table = bob.ok("check").stdout
    bob.ok("claim", "auth refactor", "60")

    [entry] = survey["unreadable"]
    assert entry["yoda"] == "alice" and "unreadable" in entry["error"]
    assert "alice.md is unreadable" in table
    own = alice.run("claim", "another topic", "10")
    assert own.returncode == 1
    assert own.stderr.startswith("coord-claim: ") and "damaged" in own.stderr


def test_an_interrupted_rebase_is_aborted_and_the_work_kept(team):
    alice, bob = team.yoda("alice"), team.yoda("bob")
    alice.ok("claim", "first", "60")
    bob.ok("sync")
    alice.ok("claim", "second", "60")
    # bob has a commit the remote lacks, and a rebase of it stopped half-way,
    # as a process killed at the wrong moment would leave it.
    away = team.remote.with_name("away.git")
    team.remote.rename(away)
    bob.ok("claim", "third", "60")
    away.rename(team.remote)
    bob.git("fetch", "-q")
    bob.git("rebase", "--exec", "false", "origin/main", check=False)
    assert (bob.state / ".git" / "rebase-merge").exists()

    result = bob.run("sync")
    alice.ok("sync")

    assert result.returncode == 0, result.stderr
    assert "aborted an unfinished rebase" in result.stderr
    assert not (bob.state / ".git" / "rebase-merge").exists()
    topics = sorted(claim["topic"] for claim in alice.check_json()["claims"])
    assert topics == ["first", "second", "third"]


def test_a_second_command_waits_for_the_lock(team):
    alice = team.yoda("alice")
    alice.ok("sync")
    lock_path = alice.state / ".git" / "coord.lock"
    with open(lock_path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        timer = threading.Timer(1.0, lambda: fcntl.flock(held, fcntl.LOCK_UN))
        timer.start()
        alice.ok("claim", "auth refactor", "60")
        waited = time.monotonic() - started
        timer.join()

    assert waited >= 1.0
    assert [claim["topic"] for claim in alice.check_json()["claims"]] == ["auth refactor"]


@pytest.mark.parametrize(
    "bad_id",
    ["a/b", "..", "../up", "with space", "", "x" * 300, ".hidden", "-dash", "tab\there"],
    ids=["slash", "dotdot", "dotdot-slash", "space", "empty", "300-chars", "dot", "dash", "tab"],
)
def test_bad_yoda_ids_are_refused(team, bad_id):
    alice = team.yoda("alice")

    result = alice.run("claim", "topic", "10", env={"YODA_ID": bad_id})

    assert result.returncode == 2
    assert result.stderr.startswith("coord-claim: YODA_ID")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (alice.coord / "claims").exists()


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        ("0", "from 1 to 10080 minutes"),
        ("-5", "whole number of minutes"),
        ("abc", "whole number of minutes"),
        ("1e9", "whole number of minutes"),
        ("99999999", "from 1 to 10080 minutes"),
        ("٣", "whole number of minutes"),
    ],
)
def test_bad_ttls_are_refused(team, ttl, message):
    alice = team.yoda("alice")

    result = alice.run("claim", "topic", ttl)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("coord-claim: TTL") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert alice.git("log", "--oneline", "--all") == ""


TOPICS = {
    "quotes": "say \"hi\" and 'bye'",
    "subshell": "$(touch /tmp/coord-owned)",
    "backticks": "`touch /tmp/coord-owned`",
    "semicolon": "a; rm -rf ~; b",
    "newlines": "first line\nsecond line\n\nfourth",
    "non-ascii": "héllo wörld ✓ 日本語 🚀",
    "10kb": "lorem ipsum " * 850,
}


@pytest.mark.parametrize("topic", TOPICS.values(), ids=TOPICS.keys())
def test_any_topic_is_stored_and_read_back_verbatim(team, topic):
    alice, bob = team.yoda("alice"), team.yoda("bob")

    alice.ok("claim", topic, "60", "--note", topic, "--paths", "src/*.py")
    bob.ok("sync")
    [claim] = bob.check_json()["claims"]

    assert claim["topic"] == topic
    assert claim["note"] == topic
    assert len(_events(bob)) == 1
    assert not Path("/tmp/coord-owned").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   ", "10"], "the topic is empty"),
        (["x" * 20_001, "10"], "at most 20000"),
        (["t", "10", "--paths", "/etc/passwd"], "relative to the repository root"),
        (["t", "10", "--paths", "src/../../x"], "without '..'"),
        (["t"], "the following arguments are required"),
        (["t", "10", "--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_claims_are_refused_with_one_line(team, args, message):
    alice = team.yoda("alice")

    result = alice.run("claim", *args)

    assert result.returncode == 2
    assert result.stderr.startswith("coord-claim: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_state_clone_is_explained(team, tmp_path):
    alice = team.yoda("alice")

    result = alice.run("check", env={"COORD_STATE": str(tmp_path / "nowhere")})

    assert result.returncode == 1
    assert result.stderr.startswith("coord-check: no state clone at")


def test_the_runtime_needs_nothing_beyond_the_standard_library():
    """Every module imports, and every command answers --help, with site-packages off."""
    modules = sorted(
        path.relative_to(ROOT / "runtime").with_suffix("").as_posix().replace("/", ".")
        for path in (ROOT / "runtime" / "coord").rglob("*.py")
    )
    importer = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'runtime')!r})\n"
        "for name in sys.argv[1:]: importlib.import_module(name)\n"
    )
    imported = subprocess.run(
        [PYTHON, "-I", "-S", "-c", importer, *[m.removesuffix(".__init__") for m in modules]],
        cwd=ROOT / "runtime",
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr

    for program in sorted(BIN.glob("coord*")):
        helped = subprocess.run(
            [PYTHON, "-I", "-S", str(program), "--help"], capture_output=True, text=True
        )
        assert helped.returncode == 0, f"{program.name}: {helped.stderr}"


def test_claims_typed_at_once_by_one_yoda_are_all_kept(team):
    """Each command reads my claims under the lock, so none writes back a stale list."""
    alice = team.yoda("alice")
    topics = [f"topic{number} area{number}" for number in range(6)]

    processes = [
        subprocess.Popen(
            [PYTHON, str(BIN / "coord-claim"), topic, "30"],
            env=alice.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for topic in topics
    ]
    failures = [process.communicate(timeout=120)[1] for process in processes]

    assert [process.returncode for process in processes] == [0] * len(topics), failures
    held = sorted(claim["topic"] for claim in alice.check_json("--mine")["claims"])
    assert held == sorted(topics)
    assert len(_events(alice)) == len(topics)


def test_bytes_that_are_not_utf8_come_back_verbatim(team):
    alice = team.yoda("alice")
    strict = {**alice.env, "PYTHONIOENCODING": "utf-8"}

    claimed = subprocess.run(
        [PYTHON, str(BIN / "coord-claim"), b"caf\xe9 menu", "30"],
        env=strict,
        capture_output=True,
    )
    table = subprocess.run([PYTHON, str(BIN / "coord-check")], env=strict, capture_output=True)
    survey = subprocess.run(
        [PYTHON, str(BIN / "coord-check"), "--json"], env=strict, capture_output=True
    )

    assert claimed.returncode == 0, claimed.stderr
    assert survey.returncode == 0, survey.stderr
    assert b'"topic": "caf\xe9 menu"' in survey.stdout
    assert table.returncode == 0 and b"caf\\udce9 menu" in table.stdout  # escaped on screen


def test_a_refusal_of_the_file_system_is_one_line(team):
    alice = team.yoda("alice")

    result = alice.run("hooks", "install", "--settings", "/proc/1/no-such/settings.json")

    assert result.returncode == 1
    assert result.stderr.startswith("coord-hooks: ")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
