"""The durable bus: claims and the log in the state clone, carried by git.

Every change follows the same path: take the clone's lock, write the files,
commit, then push, rebasing onto the remote and retrying when others pushed
first. When the remote cannot be reached the commit stays local and the next
:func:`sync` delivers it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from coord.claims import (
    LOG_HEADER,
    Claim,
    ClaimFile,
    ClaimFileError,
    LogEvent,
    format_event,
    parse_claims,
    read_claim_dir,
    render_claims,
)
from coord.config import Config
from coord.errors import CoordError
from coord.gitrepo import GitError, Repo, open_clone
from coord.record import record

PUSH_ATTEMPTS = 20
BACKOFF_CAP_SECONDS = 2.0

# A .gitattributes line that makes every concurrent append to the log merge
# cleanly: git's union driver keeps the lines of both sides.
LOG_ATTRIBUTES = "log.md merge=union\n"


@record
class Change:
    """What a command writes: my claims (None leaves them as they are), the
    events to append to the log, and the commit message."""

    claims: list[Claim] | None
    events: list[LogEvent]
    message: str


@record
class Outcome:
    """What a change to the state did, for the command to report."""

    commit: str | None = None
    pushed: bool = False
    warnings: tuple[str, ...] = ()


class State:
    """The coordination folder inside the state clone, seen from one Yoda."""

    def __init__(self, config: Config):
        self.config = config
        identity = (config.yoda_id, f"{config.yoda_id}@{config.host}.coord")
        self.repo: Repo = open_clone(config.state, identity)
        self.root = config.state / config.coord_dir
        self.claims_dir = self.root / "claims"
        self.log_path = self.root / "log.md"
        self._pending_warnings: list[str] = []
        self._branch: str | None = None
        self._checked_out: str | None = None

    # -- reading ---------------------------------------------------------

    def claim_files(self) -> list[ClaimFile]:
        return read_claim_dir(self.claims_dir)

    def my_claims(self) -> list[Claim]:
        """My own claims; a damaged file of mine is an error I must see."""
        path = self.claims_dir / f"{self.config.yoda_id}.md"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            return parse_claims(self.config.yoda_id, text)
        except ClaimFileError as error:
            raise CoordError(f"{path} is damaged ({error}); fix or delete it") from None

    def branch(self) -> str:
        if self._branch is None:
            self._checked_out = self.repo.head_branch()
            self._branch = self.config.branch or self._checked_out
            if not self._branch:
                raise CoordError(f"{self.config.state} is on a detached HEAD; set COORD_BRANCH")
        return self._branch

    def _tips(self) -> tuple[str | None, str | None]:
        """The commits of my branch and of its remote-tracking ref (None when missing)."""
        branch = self.branch()
        local, remote = f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"
        found = dict(
            line.split(" ", 1)[::-1]
            for line in self.repo.out(
                "for-each-ref", "--format=%(objectname) %(refname)", local, remote
            ).splitlines()
        )
        return found.get(local), found.get(remote)

    # -- writing ---------------------------------------------------------

    def _prepare(self) -> None:
        """Recover from interrupted work and make sure the folder has its shape."""
        aborted = self.repo.abort_unfinished()
        if aborted:
            self._note(f"aborted an unfinished {aborted} left in {self.config.state}")
        branch = self.branch()
        if self._checked_out != branch:
            # The branch may exist locally, only on the remote (checkout makes a
            # tracking branch), or nowhere yet (start it here).
            if self.repo.run("checkout", "--quiet", branch, check=False).returncode != 0:
                self.repo.run("checkout", "--quiet", "-b", branch)
            self._checked_out = branch
        self.claims_dir.mkdir(parents=True, exist_ok=True)
        attributes = self.root / ".gitattributes"
        if not attributes.exists():
            attributes.write_text(LOG_ATTRIBUTES, encoding="utf-8")
        if not self.log_path.exists():
            self.log_path.write_text(LOG_HEADER, encoding="utf-8")
        # The same rule privately, in case the shared .gitattributes is edited away.
        info = self.repo.git_dir() / "info" / "attributes"
        rule = f"/{self.config.coord_dir}/{LOG_ATTRIBUTES}"
        current = info.read_text(encoding="utf-8") if info.exists() else ""
        if rule not in current:
            info.parent.mkdir(parents=True, exist_ok=True)
            info.write_text(current + rule, encoding="utf-8")

    def _note(self, message: str) -> None:
        self._pending_warnings.append(message)

    def take_warnings(self) -> list[str]:
        """Warnings gathered since the last call (unreachable remote, recoveries)."""
        taken, self._pending_warnings = self._pending_warnings, []
        return taken

    def change(self, plan: Callable[[list[Claim]], Change | None]) -> Outcome | None:
        """Commit and push what *plan* decides, given my claims as they are now.

        *plan* runs under the lock, so two commands of the same Yoda (two
        claims typed at once) each see the other's claim instead of writing
        back a list that has just gone stale. It returns None when there is
        nothing to do; no commit is made then.
        """
        with self.repo.locked():
            self._prepare()
            change = plan(self.my_claims())
            if change is None:
                return None
            mine = self.claims_dir / f"{self.config.yoda_id}.md"
            if change.claims is not None:
                if change.claims:
                    _write_atomically(mine, render_claims(self.config.yoda_id, change.claims))
                elif mine.exists():
                    mine.unlink()
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write("".join(format_event(event) for event in change.events))
            self.repo.run("add", "--all", "--", self.config.coord_dir)
            trailer = f"Coord-Yoda: {self.config.yoda_id}"
            self.repo.run(
                "commit",
                "--quiet",
                "--no-verify",
                "--allow-empty",
                "-m",
                change.message,
                "-m",
                trailer,
            )
            commit = self.repo.out("rev-parse", "HEAD").strip()
            pushed = self._deliver()
        return Outcome(commit, pushed, tuple(self.take_warnings()))

    def sync(self) -> Outcome:
        """Fetch, rebase onto the remote, push what has not reached it."""
        with self.repo.locked():
            self._prepare()
            pushed = self._deliver(always_fetch=True)
        return Outcome(None, pushed, tuple(self.take_warnings()))

    def refresh(self) -> bool:
        """Fetch and fast-forward without pushing; False when the remote is unreachable."""
        with self.repo.locked():
            self._prepare()
            return self._integrate()

    # -- the delivery loop -------------------------------------------------

    def _fetch(self) -> bool:
        try:
            result = self.repo.run("fetch", "--quiet", "--prune", "origin", check=False)
        except GitError as error:  # it took too long: a stalled link
            self._note(f"remote unreachable, changes kept in the state clone: {error}")
            return False
        if result.returncode != 0:
            self._note(
                "remote unreachable, changes kept in the state clone for the next sync: "
                + _last_line(result.stderr)
            )
            return False
        return True

    def _integrate(self) -> bool:
        """Fetch and rebase local commits onto the remote branch."""
        if not self._fetch():
            return False
        local, remote = self._tips()
        if remote is None or local == remote:
            return True
        upstream = f"refs/remotes/origin/{self.branch()}"
        if local is None:
            self.repo.run("reset", "--quiet", "--hard", upstream)
            return True
        result = self.repo.run("rebase", "--quiet", "--autostash", upstream, check=False)
        if result.returncode != 0:
            self.repo.run("rebase", "--abort", check=False)
            raise CoordError(
                "could not rebase the state clone onto the remote, rebase aborted: "
                + _last_line(result.stderr or result.stdout)
            )
        return True

    def _deliver(self, always_fetch: bool = False) -> bool:
        """Push local commits, rebasing and retrying while others push first."""
        branch = self.branch()
        if always_fetch:
            if not self._integrate():
                return False
            local, remote = self._tips()
            if local is None or local == remote:
                return False  # nothing of ours is missing from the remote
        for attempt in range(PUSH_ATTEMPTS):
            try:
                result = self.repo.run(
                    "push",
                    "--porcelain",
                    "--quiet",
                    "origin",
                    f"HEAD:refs/heads/{branch}",
                    check=False,
                )
            except GitError as error:  # it took too long: a stalled link
                self._note(f"remote unreachable, commit kept in the state clone: {error}")
                return False
            if result.returncode == 0:
                # git has moved refs/remotes/origin/<branch> along with the push.
                return True
            if "[rejected]" not in result.stdout and "[remote rejected]" not in result.stdout:
                self._note(
                    "remote unreachable, commit kept in the state clone for the next sync: "
                    + _last_line(result.stderr)
                )
                return False
            # Someone pushed first: take their commits and try again, after a
            # random pause that grows, so that many Yodas do not retry in step.
            time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.05 * 2**attempt)))
            if not self._integrate():
                return False
        self._note(
            f"the remote kept moving during {PUSH_ATTEMPTS} tries; commit kept in the state"
            " clone for the next sync"
        )
        return False


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)


__all__ = ["GitError", "Outcome", "State"]
