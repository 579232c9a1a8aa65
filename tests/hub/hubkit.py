"""Helpers for the hub tests: where a test's hub folder is, commands left running."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from support.yodas import BIN, PYTHON


@dataclass
class Hub:
    """Where the hub's files are: as the Yodas name them, and on disk for checks."""

    env: dict
    path: Path  # the folder on the hub account, read directly by the tests

    @property
    def log(self) -> Path:
        return self.path / "poke.log"

    def lines(self) -> list[str]:
        if not self.log.exists():
            return []
        return self.log.read_text(encoding="utf-8").splitlines(keepends=True)


class Background:
    """A coord command left running, its stdout lines collected as they come."""

    def __init__(self, yoda, command: str, *args: str, env: Optional[dict] = None):
        merged = dict(yoda.env)
        merged.update(env or {})
        self.process = subprocess.Popen(
            [PYTHON, str(BIN / f"coord-{command}"), *args],
            env=merged,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
        )
        self.output: list[str] = []
        self._lines: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_errors, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def _pump_errors(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def read_until(self, predicate: Callable[[list[str]], bool], timeout: float = 10) -> list[str]:
        """Collect lines until *predicate* holds for everything read so far."""
        deadline = time.monotonic() + timeout
        while not predicate(self.output):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out; stdout so far: {self.output!r}; stderr: {self.stderr!r}"
                )
            with contextlib.suppress(queue.Empty):
                self.output.append(self._lines.get(timeout=remaining))
        return self.output

    def wait(self, timeout: float = 20) -> int:
        code = self.process.wait(timeout=timeout)
        # Let the pumps drain what is left.
        time.sleep(0.05)
        while not self._lines.empty():
            self.output.append(self._lines.get())
        return code

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.wait()


def eventually(check: Callable[[], object], timeout: float = 10, pause: float = 0.02):
    """Poll *check* until it returns something true; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"still not true after {timeout} s: {value!r}")
        time.sleep(pause)
