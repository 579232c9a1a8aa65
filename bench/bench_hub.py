#!/usr/bin/env python3
"""Timings of the real-time bus through a loopback hub: pokes, the durable bus, coord-who.

    sudo .venv/bin/python bench/bench_hub.py [--pokes 200] [--claims 20] [--who-runs 30]

Stands up the test suite's loopback sshd (root needed, as for the tests), a
hub account and Yodas with real state clones, then measures:

* poke latency: from starting ``coord-announce`` on one Yoda until another
  Yoda's running ``coord-watch`` prints the line, ControlMaster warm; split
  into the command (process start included) and the transport alone (the
  same append made in process, until the watcher prints it);
* durable-bus latency: from starting ``coord-claim`` on one Yoda until
  ``coord-check`` on another shows the claim, with ``coord-watch --mirror``
  running there;
* ``coord-who`` with 50 Yodas' heartbeats on the hub.

Prints medians, p95 and ratios to the original shell design's figures. Not a
test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "runtime"))

from common import PYTHON, compile_runtime, percentile  # noqa: E402
from coord import config as coord_config  # noqa: E402
from coord import hub, pokes, presence  # noqa: E402
from support.loopback import Loopback  # noqa: E402
from support.yodas import BIN, Team  # noqa: E402

# What the shell design this replaces was quoted at, in seconds.
ORIGINAL_POKE = (1.0, 2.0)
ORIGINAL_DURABLE = (30.0, 300.0)


def summary(name: str, seconds: list[float]) -> dict:
    milliseconds = [value * 1000 for value in seconds]
    result = {
        "name": name,
        "runs": len(milliseconds),
        "median_ms": round(statistics.median(milliseconds), 1),
        "p95_ms": round(percentile(milliseconds, 0.95), 1),
        "min_ms": round(min(milliseconds), 1),
        "max_ms": round(max(milliseconds), 1),
    }
    print(
        f"  {name:<44} median {result['median_ms']:8.1f} ms   p95 {result['p95_ms']:8.1f} ms"
        f"   (min {result['min_ms']:.1f}, max {result['max_ms']:.1f}, n={result['runs']})"
    )
    return result


class Watcher:
    """A running coord-watch whose printed lines are timestamped as they arrive."""

    def __init__(self, yoda, *args: str):
        self.process = subprocess.Popen(
            [PYTHON, str(BIN / "coord-watch"), *args],
            env=yoda.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.perf_counter(), line))

    def wait_for(self, needle: str, timeout: float = 10) -> float:
        deadline = time.perf_counter() + timeout
        while True:
            seen, line = self.lines.get(timeout=max(0.0, deadline - time.perf_counter()))
            if needle in line:
                return seen

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run(yoda, command: str, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [PYTHON, str(BIN / f"coord-{command}"), *args],
        env=yoda.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise SystemExit(f"coord-{command} failed: {result.stderr.strip()}")
    return result


def bench_pokes(team: Team, env: dict, count: int) -> list[dict]:
    alice, bob = team.yoda("alice", **env), team.yoda("bob", **env)
    settings = coord_config.load(alice.env)
    watcher = Watcher(bob, "--raw", "-n", "0")
    try:
        # The watcher starts at the log's end once connected; until then a poke
        # would land before its starting point, so repeat the first one.
        for attempt in range(40):
            run(alice, "announce", f"warm-up {attempt}")
            try:
                watcher.wait_for(" warm-up", timeout=0.5)
                break
            except queue.Empty:
                continue

        whole, command, transport = [], [], []
        for number in range(count):
            text = f"bench poke {number} end"
            started = time.perf_counter()
            run(alice, "announce", text)
            returned = time.perf_counter()
            seen = watcher.wait_for(f" {text}")
            whole.append(seen - started)
            command.append(returned - started)
        for number in range(count):
            text = f"bench append {number} end"
            started = time.perf_counter()
            pokes.send(settings, "POKE", [text])
            transport.append(watcher.wait_for(f" {text}") - started)

        starts = []
        for _ in range(min(count, 50)):
            started = time.perf_counter()
            subprocess.run(
                [PYTHON, str(BIN / "coord-announce"), "--help"],
                capture_output=True,
                check=True,
            )
            starts.append(time.perf_counter() - started)
        ssh_only = []
        argv = [*settings.ssh, settings.hub, "true"]
        for _ in range(min(count, 50)):
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            ssh_only.append(time.perf_counter() - started)
    finally:
        watcher.stop()

    print("poke latency (announce on one Yoda -> printed by another's coord-watch):")
    results = [
        summary("coord-announce until printed by coord-watch", whole),
        summary("  of which coord-announce itself", command),
        summary("transport only (in-process append -> printed)", transport),
        summary("python start + imports (coord-announce --help)", starts),
        summary("ssh 'true' over the warm ControlMaster", ssh_only),
    ]
    median = results[0]["median_ms"] / 1000
    print(
        f"  ratio to the shell design's {ORIGINAL_POKE[0]:.0f}-{ORIGINAL_POKE[1]:.0f} s:"
        f" {ORIGINAL_POKE[0] / median:.0f}x to {ORIGINAL_POKE[1] / median:.0f}x faster"
    )
    return results


def _text_of(path: Path) -> str:
    """The file's text, or nothing while git is replacing it."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def bench_durable(team: Team, env: dict, count: int) -> list[dict]:
    carol, dave = team.yoda("carol", **env), team.yoda("dave", **env)
    run(dave, "sync")
    mirror = Watcher(dave, "--mirror")
    held = dave.state / "coordination" / "claims" / "carol.md"
    mirrored = dave.home / ".local" / "state" / "coord" / "mirror" / "poke.log"
    try:
        # Wait until the mirror follows the hub, as a running service would.
        for attempt in range(100):
            run(carol, "announce", f"mirror warm-up {attempt}")
            time.sleep(0.1)
            if mirrored.exists() and "mirror warm-up" in mirrored.read_text():
                break
        to_clone, to_check = [], []
        for number in range(count):
            topic = f"zone{number} cleanup"
            started = time.perf_counter()
            run(carol, "claim", topic, "60")
            while topic not in _text_of(held):
                if time.perf_counter() - started > 60:
                    raise SystemExit("the claim never reached the other clone")
                time.sleep(0.002)
            to_clone.append(time.perf_counter() - started)
            shown = json.loads(run(dave, "check", "--json").stdout)
            assert topic in [claim["topic"] for claim in shown["claims"]]
            to_check.append(time.perf_counter() - started)
    finally:
        mirror.stop()
    print("durable-bus latency (coord-claim on one Yoda -> coord-check on another shows it):")
    results = [
        summary("claim until in the other's state clone", to_clone),
        summary("claim until the other's coord-check shows it", to_check),
    ]
    median = results[1]["median_ms"] / 1000
    print(
        f"  ratio to the shell design's {ORIGINAL_DURABLE[0]:.0f} s to"
        f" {ORIGINAL_DURABLE[1] / 60:.0f} min: {ORIGINAL_DURABLE[0] / median:.0f}x to"
        f" {ORIGINAL_DURABLE[1] / median:.0f}x faster"
    )
    return results


def bench_who(team: Team, env: dict, runs: int, yodas: int = 50) -> list[dict]:
    eve = team.yoda("eve", **env)
    for number in range(yodas):
        settings = coord_config.load({**eve.env, "YODA_ID": f"yoda-{number:02d}"})
        topics = [f"topic {number}"] if number % 3 else []
        poke = pokes.new_poke(settings, "HB", presence.heartbeat_text(f"host-{number}", topics))
        hub.heartbeat(settings, settings.yoda_id, pokes.encode([poke]))
    table, as_json = [], []
    for _ in range(runs):
        started = time.perf_counter()
        listed = run(eve, "who")
        table.append(time.perf_counter() - started)
        started = time.perf_counter()
        run(eve, "who", "--json")
        as_json.append(time.perf_counter() - started)
    assert len(listed.stdout.splitlines()) == yodas + 1
    print(f"coord-who with {yodas} Yodas:")
    return [summary("coord-who", table), summary("coord-who --json", as_json)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pokes", type=int, default=200)
    parser.add_argument("--claims", type=int, default=20)
    parser.add_argument("--who-runs", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    print(f"interpreter: {PYTHON}")
    compile_runtime()
    workdir = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    fleet = Loopback()
    try:
        account = fleet.add_account("hub")
        env = {"COORD_HUB": account.name, "COORD_SSH": fleet.coord_ssh, "COORD_HUB_DIR": "~/coord"}
        team = Team(workdir)
        results = {
            "pokes": bench_pokes(team, env, args.pokes),
            "durable": bench_durable(team, env, args.claims),
            "who": bench_who(team, env, args.who_runs),
        }
    finally:
        fleet.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
