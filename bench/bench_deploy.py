"""How long the deploy takes: 1 host against 6 hosts, a first run against a rerun.

    sudo .venv/bin/python bench/bench_deploy.py [--rounds N]

It builds the tests' loopback fleet (needs root, like the fleet tests): a hub and seven
Yodas with real systemd user managers, every host reached by pyinfra over ssh. Each
round deploys to one Yoda, then again; then to six others, then again; then purges all
seven so that the next round starts afresh. It prints the median, the 95th percentile
and the fastest of each, and the ratios the deploy aims at: six hosts in at most 1.5
times the time of one, and a rerun faster than a first run. Every time is the wall time
of a whole `pyinfra` command, start-up included. Results also go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "fleet")]

from common import percentile  # noqa: E402
from fleetkit import (  # noqa: E402
    Run,
    copy_project,
    give_key_for_hub,
    run_pyinfra,
    write_fleet_file,
)
from support.loopback import Loopback  # noqa: E402

TARGET_RATIO = 1.5


def limits(names: list[str]) -> list[str]:
    return [word for name in names for word in ("--limit", name)]


def timed(project: Path, fleet: Path, *args: str, expect_changes: bool) -> float:
    started = time.monotonic()
    run: Run = run_pyinfra(project, fleet, *args)
    elapsed = time.monotonic() - started
    if run.returncode != 0 or run.errors():
        raise SystemExit(f"bench_deploy: a deploy failed:\n{run}")
    if not expect_changes and run.changes():
        raise SystemExit(f"bench_deploy: a rerun changed something: {run.changes()[:5]}")
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds to measure (5)")
    args = parser.parse_args(argv)

    samples: dict[str, list[float]] = {
        "1 host, first run": [],
        "1 host, rerun": [],
        "6 hosts, first run": [],
        "6 hosts, rerun": [],
    }
    work = Path(tempfile.mkdtemp(prefix="coord-bench-", dir="/tmp"))
    work.chmod(0o755)
    with Loopback() as loopback:
        try:
            project = copy_project(work / "project")
            hub = loopback.add_account("bhub")
            yodas = {}
            for number in range(1, 8):
                yodas[f"y{number}"] = loopback.add_account(f"by{number}", user_manager=True)
                give_key_for_hub(loopback, yodas[f"y{number}"], hub)
            fleet = work / "fleet.toml"
            ids = {key: f"bench-{key}" for key in yodas}
            write_fleet_file(fleet, loopback, hub, yodas, ids)
            one = [yodas["y1"].name]
            six = [yodas[f"y{n}"].name for n in range(2, 8)]

            print(f"bench_deploy: setting up the hub, then {args.rounds} rounds", file=sys.stderr)
            timed(project, fleet, *limits([hub.name]), expect_changes=True)
            for round_number in range(1, args.rounds + 1):
                samples["1 host, first run"].append(
                    timed(project, fleet, *limits(one), expect_changes=True)
                )
                samples["1 host, rerun"].append(
                    timed(project, fleet, *limits(one), expect_changes=False)
                )
                samples["6 hosts, first run"].append(
                    timed(project, fleet, *limits(six), expect_changes=True)
                )
                samples["6 hosts, rerun"].append(
                    timed(project, fleet, *limits(six), expect_changes=False)
                )
                purge = ["--data", "coord_state=absent", "--data", "coord_purge=true"]
                timed(project, fleet, *limits(one + six), *purge, expect_changes=True)
                print(f"bench_deploy: round {round_number} done", file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    rows = {
        name: {
            "median": statistics.median(values),
            "p95": percentile(values, 0.95),
            "min": min(values),
            "runs": len(values),
        }
        for name, values in samples.items()
    }
    ratios = {
        "6 hosts / 1 host, first run": rows["6 hosts, first run"]["median"]
        / rows["1 host, first run"]["median"],
        "6 hosts / 1 host, rerun": rows["6 hosts, rerun"]["median"]
        / rows["1 host, rerun"]["median"],
        "rerun / first run, 1 host": rows["1 host, rerun"]["median"]
        / rows["1 host, first run"]["median"],
        "rerun / first run, 6 hosts": rows["6 hosts, rerun"]["median"]
        / rows["6 hosts, first run"]["median"],
    }

    print(f"{'deploy':<22} {'runs':>4} {'median':>8} {'p95':>8} {'min':>8}")
    for name, row in rows.items():
        print(
            f"{name:<22} {row['runs']:>4} {row['median']:>7.2f}s {row['p95']:>7.2f}s"
            f" {row['min']:>7.2f}s"
        )
    print()
    for name, ratio in ratios.items():
        print(f"{name:<30} {ratio:5.2f}x")
    scale = ratios["6 hosts / 1 host, first run"]
    faster = all(ratios[name] < 1 for name in ratios if name.startswith("rerun"))
    print()
    print(
        f"target 6 hosts <= {TARGET_RATIO}x 1 host: {'met' if scale <= TARGET_RATIO else 'MISSED'}"
    )
    print(f"target rerun faster than first run: {'met' if faster else 'MISSED'}")

    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    document = {"rows": rows, "ratios": ratios, "samples": samples}
    (results / f"deploy-{stamp}.json").write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
