"""The git transport: one wrapper that runs git on the state clone.

git is always called with an argument list, never through a shell, and its
failures become :class:`GitError` with git's own first message line. The lock
and the recovery of interrupted rebases live here too, because every command
that changes the clone needs them.
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coord.errors import CoordError

# Generous enough for a slow link, short enough that a timer never piles up.
DEFAULT_TIMEOUT = 60.0
LOCK_WAIT_SECONDS = 30.0


class GitError(CoordError):
    """git failed; ``stderr`` holds everything it said."""

    def __init__(self, message: str, stderr: str = "", returncode: int = 1):
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


def _first_message(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line.split(":", 1)[1].strip()
    return lines[-1] if lines else "no message"


class Repo:
    """A git work tree that coord owns, such as the state clone."""

    def __init__(self, path: Path, identity: tuple[str, str] | None = None):
        self.path = Path(path)
        self._git_dir: Path | None = None
        # Plain C messages so that the few outputs parsed here look the same
        # everywhere; no prompt may ever wait for a password on a timer.
        self._env = dict(os.environ)
        self._env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
        self._env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=10")
        if identity:
            # Commits that coord makes, rebases included, carry the Yoda as
            # author and committer, whatever the user's own git identity is.
            name, email = identity
            self._env.update(
                GIT_AUTHOR_NAME=name,
                GIT_AUTHOR_EMAIL=email,
                GIT_COMMITTER_NAME=name,
                GIT_COMMITTER_EMAIL=email,
            )

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> subprocess.CompletedProcess:
        argv = ["git", "-C", str(self.path), *args]
        try:
            result = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="surrogateescape",
                env=self._env,
                timeout=timeout,
            )
        except FileNotFoundError:
            raise CoordError("git is not installed or not on PATH") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {timeout:.0f} s") from None
        if check and result.returncode != 0:
            raise GitError(
                f"git {args[0]} failed: {_first_message(result.stderr)}",
                result.stderr,
                result.returncode,
            )
        return result

    def out(self, *args: str, **kwargs) -> str:
        return self.run(*args, **kwargs).stdout

    def git_dir(self) -> Path:
        if self._git_dir is None:
            self._git_dir = Path(self.out("rev-parse", "--absolute-git-dir").strip())
        return self._git_dir

    def head_branch(self) -> str | None:
        result = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return result.stdout.strip() or None

    def operation_in_progress(self) -> str | None:
        """Name the rebase, merge or cherry-pick left unfinished, if any."""
        git_dir = self.git_dir()
        for marker, name in (
            ("rebase-merge", "rebase"),
            ("rebase-apply", "rebase"),
            ("MERGE_HEAD", "merge"),
            ("CHERRY_PICK_HEAD", "cherry-pick"),
        ):
            if (git_dir / marker).exists():
                return name
        return None

    def abort_unfinished(self) -> str | None:
        """Abort whatever operation a killed process left behind; say which."""
        name = self.operation_in_progress()
        if name:
            self.run(name, "--abort", check=False)
            if self.operation_in_progress():
                raise CoordError(
                    f"{self.path} has an unfinished {name} that could not be aborted;"
                    f" run 'git -C {self.path} status'"
                )
        return name

    @contextmanager
    def locked(self, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
        """Hold the clone's lock: one changing coord command at a time.

        The lock file lives in the git directory, out of the work tree, and is
        released by the kernel if the process dies, so it never goes stale.
        """
        lock_path = self.git_dir() / "coord.lock"
        with open(lock_path, "a+") as handle:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise CoordError(
                            f"{self.path} is busy: another coord command has held its lock"
                            f" for over {wait:.0f} s"
                        ) from None
                    time.sleep(0.02)
            yield


def open_clone(path: Path, identity: tuple[str, str] | None = None) -> Repo:
    """Return the state clone at *path*, or explain how to create it."""
    if not (Path(path) / ".git").exists():
        raise CoordError(
            f"no state clone at {path}: clone the coordination repository there"
            " (git clone URL PATH) or set COORD_STATE"
        )
    return Repo(path, identity)


def is_repository(path: Path) -> bool:
    """True when *path* is inside a git work tree (quietly, for read-only callers)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip() == "true"
