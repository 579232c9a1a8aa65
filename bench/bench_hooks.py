#!/usr/bin/env python3
"""How long Claude Code waits for coord's hooks, on a big mirror and big repositories.

    bench/bench_hooks.py [--runs 200] [--python /usr/bin/python3] [--keep DIR]

Builds, in a temporary folder: a coordination repository and a project
repository of 50,000 commits each (``git fast-import`` from a generated
stream), real claims made with coord-claim, a hub mirror of 100,000 lines (50
Yodas' heartbeats, pokes, an open roll-call) and a presence snapshot. Then it
runs each hook the way Claude Code does, ``bash -c '<registered command>'``
with the JSON on stdin, and prints the median, p95 and worst wall time.

``python3`` on PATH is the interpreter named by --python (the system's
``/usr/bin/python3`` by default, as on a Mac): a version manager's shim in
front of it adds its own start-up time to every hook, and --python shows how
much. Nothing here is a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "runtime"))
sys.path.insert(0, str(ROOT / "hooks"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from common import percentile  # noqa: E402
from coord import config as coord_config  # noqa: E402
from coord import presence  # noqa: E402
from coord.claude import command_for, read_table  # noqa: E402
from coord.pokes import Poke, format_poke, mirror_path  # noqa: E402
from coord.rollcall import format_call_text  # noqa: E402
from hookkit import session_key  # noqa: E402
from support.yodas import BIN, git, hermetic_env  # noqa: E402

COMMITS = 50_000
MIRROR_LINES = 100_000
YODAS = 50
TARGET_P95_MS = 50.0


def fast_import_stream(commits: int, folder: str) -> bytes:
    """A history of *commits* commits, each changing one small file."""
    start = 1_700_000_000
    chunks = []
    for number in range(1, commits + 1):
        message = f"change {number} of the {folder} files".encode()
        content = f"line {number}\n".encode()
        author = (
            f"yoda-{number % 7} <yoda-{number % 7}@example.invalid> {start + number * 60} +0000"
        )
        chunks.append(
            b"commit refs/heads/main\n"
            + f"author {author}\ncommitter {author}\n".encode()
            + f"data {len(message)}\n".encode()
            + message
            + b"\n"
            + f"M 644 inline {folder}/file-{number % 500}.txt\n".encode()
            + f"data {len(content)}\n".encode()
            + content
            + b"\n"
        )
    return b"".join(chunks)


def build_repository(path: Path, folder: str, env: dict) -> None:
    started = time.monotonic()
    git("init", "--quiet", "--initial-branch=main", str(path), cwd=path.parent, env=env)
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        input=fast_import_stream(COMMITS, folder),
        cwd=path,
        env=env,
        check=True,
    )
    git("reset", "--quiet", "--hard", "main", cwd=path, env=env)
    print(f"  {path.name}: {COMMITS} commits in {time.monotonic() - started:.1f} s", flush=True)


def build_mirror(config: coord_config.Config) -> Path:
    now = datetime.now(timezone.utc)
    lines = []
    for number in range(MIRROR_LINES):
        moment = now - timedelta(seconds=(MIRROR_LINES - number) * 1.2)
        yoda = f"yoda-{number % YODAS}"
        if number % 97 == 0:
            lines.append(format_poke(Poke(moment, yoda, "POKE", f"status note {number}")))
        else:
            text = presence.heartbeat_text(f"host-{number % YODAS}", ["some topic"])
            lines.append(format_poke(Poke(moment, yoda, "HB", text)))
    call = format_call_text("3f2a9c1e", 3, now + timedelta(minutes=10), "deploy freeze?")
    lines.append(format_poke(Poke(now, "yoda-3", "CALL", call)))
    path = mirror_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    records = {
        f"yoda-{n}": presence.Heartbeat(f"yoda-{n}", now - timedelta(seconds=n * 5), f"host-{n}")
        for n in range(YODAS)
    }
    presence.write_local(config, records)
    return path


def run_once(command: str, payload: bytes, env: dict, cwd: Path) -> float:
    """Wall time of one run, from starting bash to the hook's exit, in ms."""
    started = time.perf_counter()
    result = subprocess.run(
        ["bash", "-c", command], input=payload, env=env, cwd=cwd, capture_output=True
    )
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0 or result.stderr:
        raise SystemExit(f"bench: {command} failed: {result.stderr.decode()[:300]}")
    return elapsed


def measure(cases: dict, env: dict, cwd: Path, runs: int) -> dict:
    """Run every case *runs* times, taking turns, so that all of them meet the same load."""
    times: dict = {name: [] for name in cases}
    for number in range(runs):
        for name, (command, payloads) in cases.items():
            times[name].append(run_once(command, payloads[number], env, cwd))
    return times


def summary(name: str, times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = percentile(times, 0.95)
    row = {
        "case": name,
        "runs": len(times),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
        "p95_vs_target": round(p95 / TARGET_P95_MS, 2),
    }
    print(
        f"  {name:<44} {row['median_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['max_ms']:>7.1f}"
        f" {row['p95_vs_target']:>6.2f}",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per case (at least 100)")
    default_python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    parser.add_argument("--python", default=default_python, help="python3 the hooks run with")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep it")
    args = parser.parse_args()
    if args.runs < 100:
        parser.error("--runs must be at least 100")

    top = Path(args.keep or tempfile.mkdtemp(prefix="bench-hooks-"))
    top.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, top)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)


def run(args: argparse.Namespace, top: Path) -> int:
    home = top / "home"
    home.mkdir()
    env = hermetic_env(home)
    print(f"building in {top}", flush=True)
    project = top / "project"
    build_repository(project, "src", env)
    # The coordination repository gets the same long history, by a local clone.
    git(
        "clone",
        "--quiet",
        "--bare",
        "--local",
        str(project),
        str(top / "remote.git"),
        cwd=top,
        env=env,
    )
    state = home / "state"
    git("clone", "--quiet", str(top / "remote.git"), str(state), cwd=top, env=env)

    shim = top / "shim"
    shim.mkdir()
    (shim / "python3").symlink_to(args.python)
    # As on a host: Python keeps the hooks' and the runtime's bytecode between
    # runs (here in a folder of the bench's own, so the tree stays clean).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(top / "pycache"),
        PATH=f"{shim}{os.pathsep}{env['PATH']}",
        YODA_ID="bench",
        COORD_STATE=str(state),
        COORD_HUB="local",
        COORD_HUB_DIR=str(top / "hub"),
        CLAUDE_PROJECT_DIR=str(project),
    )
    for yoda, topic, paths in (
        ("yoda-1", "auth refactor", ["src/auth/**"]),
        ("yoda-2", "billing export", ["src/billing/**", "docs/billing.md"]),
        ("bench", "frontend colours", ["web/**"]),
    ):
        subprocess.run(
            [sys.executable, str(BIN / "coord-claim"), topic, "120", "--paths", *paths],
            env=dict(env, YODA_ID=yoda),
            check=True,
            capture_output=True,
        )
    config = coord_config.load(env)
    mirror = build_mirror(config)
    version = subprocess.run([args.python, "--version"], capture_output=True, text=True).stdout
    print(
        f"  mirror: {MIRROR_LINES} lines, {mirror.stat().st_size // 1024} KiB;"
        f" hooks run by {args.python} ({version.strip()}); load {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    table = {spec.event: spec for spec in read_table(ROOT / "hooks")}
    commands = {event: command_for(ROOT / "hooks", spec.program) for event, spec in table.items()}

    def event(name: str, session: str, **fields) -> bytes:
        document = {
            "session_id": session,
            "transcript_path": str(home / f"{session}.jsonl"),
            "cwd": str(project),
            "permission_mode": "default",
            "hook_event_name": name,
        }
        document.update(fields)
        return json.dumps(document).encode()

    def fresh_sessions(prefix: str) -> list[str]:
        # As after SessionStart: the heartbeat was just sent, nothing told yet.
        sessions = [f"{prefix}-{number:04d}" for number in range(args.runs + 1)]
        folder = config.local_state / "sessions"
        folder.mkdir(parents=True, exist_ok=True)
        for session in sessions:
            (folder / f"{session_key(session)}.beat").touch()
        return sessions

    prompt = dict(prompt="what should I work on next?")
    first = [event("UserPromptSubmit", s, **prompt) for s in fresh_sessions("first")]
    repeat = [event("UserPromptSubmit", "repeat", **prompt)] * args.runs
    claimed = {
        "file_path": str(project / "src/auth/login.py"),
        "old_string": "a",
        "new_string": "b",
    }
    free = dict(claimed, file_path=str(project / "src/app.py"))
    fresh_sessions("guard")
    ask = [event("PreToolUse", "guard-0000", tool_name="Edit", tool_input=claimed)] * args.runs
    allow = [event("PreToolUse", "guard-0000", tool_name="Edit", tool_input=free)] * args.runs

    sample = subprocess.run(
        ["bash", "-c", commands["UserPromptSubmit"]],
        input=first.pop(),
        env=env,
        cwd=project,
        capture_output=True,
    )
    context = json.loads(sample.stdout)["hookSpecificOutput"]["additionalContext"]
    run_once(commands["UserPromptSubmit"], repeat[0], env, project)  # tells the news once

    print(f"\n  {'case':<44} {'median':>7} {'p95':>7} {'max':>7} {'p95/50ms':>6}")
    imports = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'runtime')!r}); import json, signal,"
        " coord.config, coord.claims, coord.scan, coord.pokes, coord.presence, coord.rollcall"
    )
    runtime_only = f"python3 -c {shlex.quote(imports)}"
    run_once(runtime_only, b"", env, project)  # writes the bytecode caches
    prompt_command, guard_command = commands["UserPromptSubmit"], commands["PreToolUse"]
    cases = {
        "python3 start-up alone (python3 -c pass)": ("python3 -c pass", [b""] * args.runs),
        "start-up + importing the runtime's modules": (runtime_only, [b""] * args.runs),
        "UserPromptSubmit, first prompt (all news)": (prompt_command, first),
        "UserPromptSubmit, nothing new": (prompt_command, repeat),
        "PreToolUse Edit on a claimed path (ask)": (guard_command, ask),
        "PreToolUse Edit on a free path": (guard_command, allow),
    }
    times = measure(cases, env, project, args.runs)
    rows = [summary(name, times[name]) for name in cases]
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    print(f"\n  first-prompt context: {len(context)} characters")
    print("  " + context.replace("\n", "\n  "))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "hooks.json").write_text(json.dumps({"python": args.python, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
