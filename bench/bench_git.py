"""Benchmark of the durable bus: coord-claim and coord-check on a large state.

    .venv/bin/python bench/bench_git.py [--runs N]

coord-claim is measured end to end (collision scan, commit, push to a local
bare remote) against a 10,000-commit history, of which the last day holds a
few hundred commits by others, and 200 active claims. coord-check --json is
measured with 1,000 claims. Prints medians and 95th percentiles.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import PYTHON, compile_runtime, coord, hermetic_env, report, run, timed
from coord.claims import Claim, render_claims

HISTORY = 10_000
SPAN_DAYS = 30
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()


def fast_import_stream(commits: int, now: datetime) -> str:
    """A history of *commits* commits by six authors over the last month."""
    start = now - timedelta(days=SPAN_DAYS)
    step = timedelta(days=SPAN_DAYS) / commits
    chunks = []
    for number in range(commits):
        when = int((start + step * number).timestamp())
        author = f"dev{number % 6}"
        message = f"{WORDS[number % 12]} {WORDS[(number // 12) % 12]} change {number}\n"
        content = f"line {number}\n"
        chunks.append(
            f"commit refs/heads/main\nmark :{number + 1}\n"
            f"author {author} <{author}@example.invalid> {when} +0000\n"
            f"committer {author} <{author}@example.invalid> {when} +0000\n"
            f"data {len(message.encode())}\n{message}"
            + (f"from :{number}\n" if number else "")
            + f"M 100644 inline src/{WORDS[number % 12]}/file{number % 200}.py\n"
            f"data {len(content.encode())}\n{content}\n"
        )
    return "".join(chunks)


def write_claims(folder: Path, yodas: int, per_yoda: int, now: datetime) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(yodas):
        yoda = f"peer{number}"
        claims = [
            Claim(
                yoda,
                f"{WORDS[k % 12]} task {number}-{k}",
                600,
                now - timedelta(minutes=k),
                "bench",
                [f"src/{WORDS[k % 12]}/part{number}/**"],
            )
            for k in range(per_yoda)
        ]
        (folder / f"{yoda}.md").write_text(render_claims(yoda, claims))


def build(root: Path, claims: tuple[int, int]) -> dict:
    """A remote with a long history and many claims, and a clone for the measured Yoda."""
    env = hermetic_env(root)
    now = datetime.now(timezone.utc)
    remote, seed = root / "remote.git", root / "seed"
    run(["git", "init", "-q", "--bare", "-b", "main", remote], env)
    run(["git", "init", "-q", "-b", "main", seed], env)
    run(["git", "-C", seed, "fast-import", "--quiet"], env, input=fast_import_stream(HISTORY, now))
    run(["git", "-C", seed, "reset", "-q", "--hard", "main"], env)
    write_claims(seed / "coordination" / "claims", *claims, now)
    (seed / "coordination" / ".gitattributes").write_text("log.md merge=union\n")
    (seed / "coordination" / "log.md").write_text("# Coordination log\n\n")
    run(["git", "-C", seed, "add", "coordination"], env)
    run(["git", "-C", seed, "commit", "-q", "-m", "seed claims"], env)
    run(["git", "-C", seed, "push", "-q", remote, "main"], env)
    state = root / "state"
    run(["git", "clone", "-q", remote, state], env)
    env.update(YODA_ID="bench", COORD_STATE=str(state))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    print(f"interpreter: {PYTHON}")
    compile_runtime()
    with tempfile.TemporaryDirectory(prefix="coord-bench-") as scratch:
        root = Path(scratch)

        started = time.perf_counter()
        env = build(root / "claim", (50, 4))
        print(f"built {HISTORY} commits and 200 claims in {time.perf_counter() - started:.1f} s")
        counter = iter(range(10**6))

        def claim() -> None:
            topic = f"zz{next(counter)} qq{next(counter)}"
            run(coord("claim", topic, "30", "--paths", f"bench/{topic.split()[0]}/**"), env)

        report("coord-claim (10,000 commits, 200 claims)", timed(claim, args.runs), target=0.300)
        report("python start-up alone", timed(lambda: run([PYTHON, "-c", "0"], env), 20))

        env = build(root / "check", (100, 10))

        def check() -> None:
            run(coord("check", "--json"), env)

        report("coord-check --json (1,000 claims)", timed(check, args.runs), target=0.150)


if __name__ == "__main__":
    main()
