"""Claude Code as coord's hooks meet it: the documented JSON on stdin, its environment.

Each hook runs the way Claude Code runs it: the command registered in
settings.json (the program's quoted path) through ``bash -c``, from the
session's cwd, with ``python3`` on PATH being the interpreter under test
(``COORD_TEST_PYTHON`` or the test runner's own).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from coord import config as coord_config
from coord import presence
from coord.claude import command_for, read_table
from coord.pokes import Poke, format_poke, mirror_path
from support.yodas import PYTHON, ROOT, Yoda

HOOKS = ROOT / "hooks"
TABLE = {spec.event: spec for spec in read_table(HOOKS)}


@dataclass
class HookRun:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def answer(self) -> dict:
        """The JSON answer, checked against the documented shape."""
        document = json.loads(self.stdout)
        assert isinstance(document["hookSpecificOutput"], dict)
        assert isinstance(document["hookSpecificOutput"]["hookEventName"], str)
        return document

    @property
    def context(self) -> str:
        return self.answer()["hookSpecificOutput"].get("additionalContext", "")

    def quiet(self) -> bool:
        """Exit 0 with nothing said: how a hook stays out of the way."""
        return self.code == 0 and self.stdout == "" and self.stderr == ""


class ClaudeCode:
    """Claude Code on one Yoda's machine: its environment and the hooks it runs."""

    def __init__(self, yoda: Yoda, root: Path):
        self.yoda = yoda
        shim = root / "shim"
        shim.mkdir(exist_ok=True)
        # A wrapper rather than a link, so a virtual environment stays itself.
        wrapper = shim / "python3"
        wrapper.write_text(f'#!/bin/sh\nexec "{PYTHON}" "$@"\n')
        wrapper.chmod(0o755)
        self.env = dict(yoda.env)
        self.env.update(
            PATH=f"{shim}{os.pathsep}{self.env.get('PATH', '/usr/bin:/bin')}",
            COORD_HUB="local",
            COORD_HUB_DIR=str(root / "hub"),
            CLAUDE_PROJECT_DIR=str(yoda.state),
        )
        self.cwd = yoda.state

    @property
    def config(self) -> coord_config.Config:
        return coord_config.load(self.env)

    def run(
        self,
        event: str,
        session: str = "5f1c2a4e-session-one",
        stdin: Optional[bytes] = None,
        env: Optional[dict] = None,
        cwd: Optional[Path] = None,
        **fields,
    ) -> HookRun:
        """Run the hook registered for *event* with the documented input."""
        cwd = Path(cwd or self.cwd)
        if stdin is None:
            document = {
                "session_id": session,
                "transcript_path": str(self.yoda.home / ".claude" / f"{session}.jsonl"),
                "cwd": str(cwd),
                "permission_mode": "default",
                "hook_event_name": event,
            }
            document.update(fields)
            stdin = json.dumps(document).encode()
        merged = dict(self.env)
        merged.update(env or {})
        command = command_for(HOOKS, TABLE[event].program)
        started = time.monotonic()
        result = subprocess.run(
            ["bash", "-c", command],
            input=stdin,
            env=merged,
            cwd=cwd,
            capture_output=True,
            timeout=30,
        )
        return HookRun(
            result.returncode,
            result.stdout.decode(),
            result.stderr.decode(),
            time.monotonic() - started,
        )

    def mirror(self, *pokes: Poke) -> Path:
        """Append pokes to this machine's hub mirror, as coord-watch --mirror writes them."""
        path = mirror_path(self.config)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(format_poke(poke) for poke in pokes))
        return path

    def seen(self, **ages: float) -> None:
        """Write the mirror's presence snapshot: Yoda -> seconds since its heartbeat."""
        now = time.time()
        records = {
            yoda: presence.Heartbeat(yoda, datetime.fromtimestamp(now - age, timezone.utc), "host")
            for yoda, age in ages.items()
        }
        presence.write_local(self.config, records)


def poke(yoda: str, kind: str, text: str, seconds_ago: float = 0) -> Poke:
    moment = datetime.fromtimestamp(time.time() - seconds_ago, timezone.utc)
    return Poke(moment, yoda, kind, text)
