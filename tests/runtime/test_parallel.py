"""Many Yodas claiming and releasing at once against one remote lose nothing."""

from __future__ import annotations

import subprocess
from collections import Counter

import pytest
from coord.claims import parse_event, read_claim_dir
from support.yodas import PYTHON, ROOT

YODAS = 8
CYCLES = 25

# Each Yoda is one process running its cycles through the command-line entry
# point, so every claim and release takes the same path as a typed command.
WORKER = f"""
import sys
sys.path.insert(0, {str(ROOT / "runtime")!r})
from coord.cli import run_named

name, cycles = sys.argv[1], int(sys.argv[2])
for number in range(cycles):
    topic = f"{{name}}x{{number}}"
    for command, args in (("claim", [topic, "30"]), ("release", ["--topic", topic])):
        code = run_named(command, args)
        if code != 0:
            sys.exit(f"{{command}} {{topic}} exited {{code}}")
"""


@pytest.mark.slow
def test_eight_yodas_in_parallel_lose_no_event(team):
    yodas = [team.yoda(f"y{number}") for number in range(YODAS)]

    workers = [
        subprocess.Popen(
            [PYTHON, "-c", WORKER, yoda.name, str(CYCLES)],
            env=yoda.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for yoda in yodas
    ]
    results = [(worker.wait(timeout=400), worker.stderr.read()) for worker in workers]
    for worker in workers:
        worker.stdout.close()
        worker.stderr.close()
    for yoda in yodas:
        yoda.ok("sync")

    assert [code for code, _ in results] == [0] * YODAS, [err for _, err in results]
    expected = Counter(
        (f"y{number}", kind, f"y{number}x{cycle}")
        for number in range(YODAS)
        for cycle in range(CYCLES)
        for kind in ("CLAIM", "RELEASE")
    )
    for yoda in yodas:
        events = [parse_event(line) for line in (yoda.coord / "log.md").open()]
        seen = Counter((e.yoda, e.kind, e.text) for e in events if e is not None)
        assert seen == expected, f"{yoda.name}'s log differs"
        assert sum(seen.values()) == YODAS * CYCLES * 2
        assert all(claim_file.error is None for claim_file in read_claim_dir(yoda.coord / "claims"))
        assert yoda.check_json()["claims"] == []
        assert not (yoda.state / ".git" / "rebase-merge").exists()
        assert not (yoda.state / ".git" / "rebase-apply").exists()
        assert yoda.git("status", "--porcelain") == ""
        assert yoda.git("rev-parse", "HEAD") == yodas[0].git("rev-parse", "HEAD")
