"""Helpers shared by the benchmark scripts: timing, statistics, hermetic git."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "runtime" / "bin"
sys.path.insert(0, str(ROOT / "runtime"))
sys.path.insert(0, str(ROOT / "tests"))

from support.yodas import hermetic_env as _test_env  # noqa: E402

# The interpreter that runs the commands: the system's python3, as on a host
# (macOS and Debian both have /usr/bin/python3), else the one running the
# benchmark; never a version manager's shim, which adds its own start-up.
PYTHON = os.environ.get("COORD_BENCH_PYTHON") or (
    "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
)


def compile_runtime() -> None:
    """Byte-compile the runtime and hooks for PYTHON, as their first run on a host does.

    Without it every command of a fresh checkout would compile its modules
    again, since the tests' environment tells Python not to write bytecode.
    """
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(ROOT / "runtime"), str(ROOT / "hooks")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def hermetic_env(home: Path, **extra: str) -> dict[str, str]:
    """The tests' hermetic environment (private HOME, no system git config, a
    fixed author, the hub as a local folder), plus *extra*."""
    env = _test_env(home)
    env.update(extra)
    return env


def run(argv: list, env: dict, cwd: Path = None, input: str = None) -> str:
    result = subprocess.run(
        [str(arg) for arg in argv], env=env, cwd=cwd, input=input, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed: {result.stderr.strip()}")
    return result.stdout


def coord(command: str, *args: str) -> list[str]:
    return [PYTHON, str(BIN / f"coord-{command}"), *args]


def timed(action: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    """Seconds taken by each of *runs* calls of *action*, after *warmup* untimed ones."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample at or above *fraction* of them."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def report(name: str, samples: list[float], target: float = None) -> dict:
    median = statistics.median(samples)
    p95 = percentile(samples, 0.95)
    verdict = ""
    if target is not None:
        verdict = f"  target median < {target * 1000:.0f} ms: " + (
            "met" if median < target else "MISSED"
        )
    print(
        f"{name:<52} n={len(samples):<4} median {median * 1000:7.1f} ms"
        f"  p95 {p95 * 1000:7.1f} ms{verdict}"
    )
    return {"name": name, "median_s": median, "p95_s": p95, "n": len(samples)}
