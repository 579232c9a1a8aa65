"""A real sshd on loopback and real `systemd --user` managers, for tests.

Tests talk to "hosts" the way the project does in production: over ssh, with
pyinfra and testinfra, and through `systemctl --user`. Each host is a local Unix
user behind one sshd listening on 127.0.0.1. The machines this runs on have no
systemd as PID 1, so a user manager cannot start the usual way; instead every
Loopback keeps a private mount namespace in which `/run/systemd` and `/run/user`
are directories of its own, and starts sshd and each user manager inside it.

Everything a Loopback starts lives in cgroups named after its run token, and
every user it creates carries a marker in its comment field, so close() can
remove all of it, and so can the next run when this one was killed before
close() ran (see remove_leftovers).

Needs root, openssh-server, systemd (for /lib/systemd/systemd) and util-linux.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import logging
import os
import pwd
import random
import re
import select
import shlex
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

__all__ = ["Account", "Loopback", "LoopbackError", "remove_leftovers"]

logger = logging.getLogger(__name__)

# Every name this harness creates starts with PREFIX and a run token of five
# lowercase letters: users and manager cgroups "ct<token>-<hint>", the run's
# cgroup "ct<token>.run", its directory /tmp/ct<token>.loopback.
PREFIX = "ct"
_NAME_RE = re.compile(rf"^{PREFIX}([a-z]{{5}})[-.]")

# Users are only ever deleted when their comment field says we made them, so a
# real user whose name happens to start with the prefix is never touched.
MARKER = "parallelism loopback test account"

# Under /tmp, never $TMPDIR: leftovers of a killed run must be found by the next
# run whatever its environment, and sshd refuses homes below 0700 trees such as
# /root, where a TMPDIR might point.
TEMP_PARENT = Path("/tmp")
CLEANUP_LOCK = f".{PREFIX}-loopback-cleanup.lock"

SSHD = "/usr/sbin/sshd"  # absolute: sshd re-executes itself on SIGHUP
USER_MANAGER = "/lib/systemd/systemd"
USER_PATH = "/usr/local/bin:/usr/bin:/bin"

START_TIMEOUT = 20.0  # seconds for sshd, the namespace or a user manager to come up
STOP_TIMEOUT = 10.0  # seconds for a process or a cgroup to empty after a signal

# Writes its own pid into each cgroup given before "--", then execs the rest, so
# that the command (same pid) starts life inside those cgroups.
_ENTER_CGROUPS = (
    'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; '
    'shift; exec "$@"'
)

# Runs in the new mount namespace: our own directories replace /run/systemd (an
# empty system/ in it makes systemd believe the machine booted with systemd) and
# /run/user (where runtime directories go). Then it only holds the namespace.
_HOLD_NAMESPACE = (
    'mount --bind "$1" /run/systemd && mount --bind "$2" /run/user && '
    "echo ready && exec sleep infinity >/dev/null"
)


class LoopbackError(RuntimeError):
    """The loopback fleet could not be set up, changed or torn down."""


@dataclass(frozen=True)
class Account:
    """One local Unix user acting as a host behind the loopback sshd."""

    name: str  # user name, and the Host alias in the Loopback's ssh_config
    uid: int
    gid: int
    home: Path
    # /run/user/<uid> as processes inside the namespace see it; it exists (and
    # XDG_RUNTIME_DIR is set in ssh sessions and run_as) only with a user manager.
    runtime_dir: Path
    has_user_manager: bool


class Loopback:
    """One sshd on 127.0.0.1 (free high port), its own host key/config/pidfile, inside a
    private mount namespace so real `systemd --user` managers can run for its accounts.

    Creating one starts it; close() (or leaving a `with` block) removes everything.

        with Loopback() as fleet:
            hub = fleet.add_account("hub")
            host = fleet.add_account("laptop", user_manager=True)
            env = {**os.environ, "COORD_SSH": fleet.coord_ssh}
            subprocess.run([*fleet.ssh_argv(), host.name, "systemctl --user list-timers"])

    Attributes: port; client_key, ssh_config, known_hosts (root's client side);
    sshd_log (sshd's own log, connections included); accounts; token and base
    (the run's name stem and its directory under /tmp).
    """

    def __init__(self) -> None:
        _require_root_and_tools()
        remove_leftovers()

        self._closed = False
        self.accounts: list[Account] = []
        self._managers: dict[str, subprocess.Popen] = {}
        self._sshd: Optional[subprocess.Popen] = None
        self._holder: Optional[subprocess.Popen] = None

        self.token, self.base, self._lock_fd = _claim_run_directory()
        _open_loopbacks.add(self)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # -- public surface -------------------------------------------------------

    @property
    def coord_ssh(self) -> str:
        """The value for COORD_SSH: the ssh command line the runtime should use."""
        return shlex.join(self.ssh_argv())

    def ssh_argv(self) -> list[str]:
        return ["ssh", "-F", str(self.ssh_config)]

    def ssh(
        self,
        account: Account,
        command: str,
        *,
        input: Optional[str] = None,
        timeout: float = 60,
        options: Sequence[str] = (),
    ) -> subprocess.CompletedProcess:
        """Run a remote shell command on account over ssh, as root's client would.

        Exit code 255 means ssh itself failed (could not connect or log in).
        """
        argv = [*self.ssh_argv(), *options, account.name, command]
        return subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def daemon_pids(self) -> dict[str, int]:
        """Pids of what runs now: "namespace", "sshd", and each user manager by account name."""
        pids = {}
        for what, process in [("namespace", self._holder), ("sshd", self._sshd)]:
            if process is not None and process.poll() is None:
                pids[what] = process.pid
        for name, process in self._managers.items():
            if process.poll() is None:
                pids[name] = process.pid
        return pids

    def pyinfra_data(self, account: Account) -> dict:
        """pyinfra host data that reaches account over paramiko, without the ssh config."""
        return {
            "ssh_hostname": "127.0.0.1",
            "ssh_port": self.port,
            "ssh_user": account.name,
            "ssh_key": str(self.client_key),
            "ssh_known_hosts_file": str(self.known_hosts),
            "ssh_strict_host_key_checking": "yes",
        }

    def add_account(self, name_hint: str, user_manager: bool = False) -> Account:
        """Create a user reachable over ssh as Host alias <account.name>.

        With user_manager, a real `systemd --user` runs for it and its ssh sessions
        get XDG_RUNTIME_DIR, so `systemctl --user` works there as on a real host.
        """
        self._check_open()
        name = self._new_name(name_hint)
        home = self.base / "homes" / name
        _useradd(name, home)
        entry = pwd.getpwnam(name)
        account = Account(
            name=name,
            uid=entry.pw_uid,
            gid=entry.pw_gid,
            home=home,
            runtime_dir=Path("/run/user") / str(entry.pw_uid),
            has_user_manager=user_manager,
        )
        # Listed before anything can fail, so close() removes a half-made account.
        self.accounts.append(account)

        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(self._client_pub_key)
        keys.chmod(0o600)
        for path in (ssh_dir, keys):
            os.chown(path, account.uid, account.gid)

        if user_manager:
            self._start_user_manager(account)
            self._write_sshd_config()
            self._reload_sshd()
        self._write_ssh_config()
        logger.debug("added account %s (uid %d)", name, account.uid)
        return account

    def remove_account(self, account: Account) -> None:
        """Stop everything of account and delete the user; other accounts are untouched."""
        if account not in self.accounts:
            return
        self._forget_master(account)
        self._stop_user_manager(account)
        _kill_user_processes(account.uid)
        for root in _cgroup_roots():
            _remove_cgroup_tree(root / account.name)
        shutil.rmtree(self.base / "run-user" / str(account.uid), ignore_errors=True)
        _userdel(account.name)
        self.accounts.remove(account)
        # The sshd config keeps a harmless Match block for the deleted name until
        # the next reload; rewriting it now keeps the file honest.
        self._write_sshd_config()
        self._write_ssh_config()

    def run_as(
        self,
        account: Account,
        argv: Sequence[str],
        *,
        env: Optional[Mapping[str, str]] = None,
        input: Optional[str] = None,
        timeout: float = 60,
        check: bool = False,
    ) -> subprocess.CompletedProcess:
        """Run argv locally as account, inside the namespace, from its home.

        The environment is clean: HOME, USER, LOGNAME, SHELL, PATH, LANG, and
        XDG_RUNTIME_DIR for accounts with a user manager, updated with env.
        """
        self._check_open()
        variables = self._login_environment(account)
        variables.update(env or {})
        command = [
            *self._in_namespace(cgroups=[self._cgroup("cmd")], workdir=account.home),
            *_as_user(account),
            "/usr/bin/env",
            "-i",
            *(f"{key}={value}" for key, value in variables.items()),
            *argv,
        ]
        return subprocess.run(
            command,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def stop_sshd(self, keep_sessions: bool = False) -> None:
        """Take the hub down: new connections are refused from now on.

        By default the established connections die too, with whatever they run,
        as when a host goes away; ssh's ControlMaster processes then exit, so
        clients really see the outage. With keep_sessions only the listener
        stops, as in `systemctl restart ssh`. User managers keep running.
        """
        self._check_open()
        if self._sshd is None:
            return
        if keep_sessions:
            _terminate(self._sshd, "sshd")
        else:
            # Our own clients' masters first, so that by the time this returns no
            # ssh client of ours still holds a dying connection.
            for account in self.accounts:
                self._forget_master(account)
            _kill_cgroup(self._cgroup("sshd"))
            self._sshd.wait(timeout=STOP_TIMEOUT)
        self._sshd = None

    def start_sshd(self) -> None:
        """Bring sshd back on the same port with the same keys and accounts."""
        self._check_open()
        if self._sshd is not None and self._sshd.poll() is None:
            return
        offset = _size(self.sshd_log)
        self._sshd = self._spawn(
            [SSHD, "-D", "-f", str(self._sshd_config), "-E", str(self.sshd_log)],
            cgroups=[self._cgroup("sshd")],
            log=self.sshd_log,
        )
        self._wait_sshd_listening(offset, "sshd to listen")

    def close(self) -> None:
        """Stop everything this Loopback started and remove its users, cgroups and files.

        Safe to call more than once; it tries every step even when one fails and
        raises the first failure at the end.
        """
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []

        def attempt(step: Callable[[], object]) -> None:
            try:
                step()
            except Exception as error:  # keep tearing down; the first failure is raised below
                logger.warning("loopback teardown: %s", error)
                errors.append(error)

        for account in self.accounts:
            attempt(lambda account=account: self._forget_master(account))
        # Ask all managers at once, then wait: each takes a moment to stop its units.
        for process in self._managers.values():
            attempt(lambda process=process: _signal(process, signal.SIGTERM))
        for account in self.accounts:
            attempt(lambda account=account: self._stop_user_manager(account))
        attempt(lambda: _kill_cgroup(self._cgroup_root()))
        for process in [self._sshd, self._holder]:
            if process is not None:
                attempt(lambda process=process: process.wait(timeout=STOP_TIMEOUT))
        for account in self.accounts:
            attempt(lambda account=account: _kill_user_processes(account.uid))
        for root in _cgroup_roots():
            for account in self.accounts:
                attempt(lambda root=root, account=account: _remove_cgroup_tree(root / account.name))
            attempt(lambda root=root: _remove_cgroup_tree(root / self._cgroup_root().name))
        for account in self.accounts:
            attempt(lambda account=account: _userdel(account.name))
        attempt(lambda: shutil.rmtree(self.base))
        os.close(self._lock_fd)
        _open_loopbacks.discard(self)
        if errors:
            raise LoopbackError(f"teardown incomplete: {errors[0]}") from errors[0]

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- start-up ---------------------------------------------------------------

    def _start(self) -> None:
        base = self.base
        for sub, mode in [
            ("homes", 0o755),
            ("sshd", 0o700),
            ("client", 0o700),
            ("control", 0o700),
            ("logs", 0o700),
            ("run-systemd", 0o755),
            ("run-systemd/system", 0o755),
            ("run-user", 0o755),
        ]:
            (base / sub).mkdir(mode=mode)
            (base / sub).chmod(mode)  # mkdir's mode is filtered by the umask

        self.client_key = base / "client" / "id_ed25519"
        self.ssh_config = base / "client" / "ssh_config"
        self.known_hosts = base / "client" / "known_hosts"
        self._control_dir = base / "control"
        self._sshd_config = base / "sshd" / "sshd_config"
        self.sshd_log = base / "logs" / "sshd.log"
        host_key = base / "sshd" / "ssh_host_ed25519_key"

        # ed25519 in OpenSSH's format: paramiko (pyinfra) reads it since 2.2.
        for key, comment in [(host_key, "loopback-host"), (self.client_key, "loopback-client")]:
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
        self._client_pub_key = self.client_key.with_suffix(".pub").read_text()
        self.port = _free_port()
        host_pub = host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self._write_sshd_config()
        self._write_ssh_config()

        # sshd checks for its privilege separation directory even with -t; the
        # others are mount points for the namespace.
        for path in ("/run/sshd", "/run/systemd", "/run/user"):
            Path(path).mkdir(mode=0o755, exist_ok=True)

        cgroup_root = self._cgroup_root()
        cgroup_root.mkdir()
        for leaf in ("holder", "sshd", "cmd"):
            self._cgroup(leaf).mkdir()
        self._start_holder()
        self.start_sshd()

    def _start_holder(self) -> None:
        log = self.base / "logs" / "namespace.log"
        with open(log, "ab") as stderr:
            self._holder = subprocess.Popen(
                [
                    "/bin/sh",
                    "-c",
                    _ENTER_CGROUPS,
                    "sh",
                    str(self._cgroup("holder")),
                    "--",
                    *("unshare", "--mount", "--propagation", "private", "--"),
                    *("/bin/sh", "-c", _HOLD_NAMESPACE, "holder"),
                    str(self.base / "run-systemd"),
                    str(self.base / "run-user"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
            )
        assert self._holder.stdout is not None
        with self._holder.stdout as out:
            readable, _, _ = select.select([out], [], [], START_TIMEOUT)
            line = out.readline() if readable else b""
        if line.strip() != b"ready":
            raise LoopbackError(f"the mount namespace did not come up: {_tail(log) or 'no output'}")
        self._namespace = f"/proc/{self._holder.pid}/ns/mnt"

    def _start_user_manager(self, account: Account) -> None:
        runtime = self.base / "run-user" / str(account.uid)
        runtime.mkdir(mode=0o700)
        os.chown(runtime, account.uid, account.gid)

        # systemd --user needs a cgroup it may manage (delegated: the directory
        # and its control files owned by the user) in the unified hierarchy and,
        # on hybrid machines, in the name=systemd one; without it, it exits 1.
        cgroups = [root / account.name for root in _cgroup_roots()]
        for cgroup in cgroups:
            cgroup.mkdir()
            for path in [cgroup, *cgroup.glob("cgroup.*"), cgroup / "tasks"]:
                if path.exists():
                    os.chown(path, account.uid, account.gid)

        log = self.base / "logs" / f"{account.name}.manager.log"
        environment = self._login_environment(account)
        self._managers[account.name] = self._spawn(
            [
                *_as_user(account),
                "/usr/bin/env",
                "-i",
                *(f"{key}={value}" for key, value in environment.items()),
                USER_MANAGER,
                "--user",
            ],
            cgroups=cgroups,
            log=log,
            workdir=account.home,
        )
        ready = runtime / "systemd" / "private"
        process = self._managers[account.name]
        _wait_for(
            f"the user manager of {account.name} ({ready})",
            ready.exists,
            START_TIMEOUT,
            problem=lambda: _exited(process, log),
        )

    # -- running things -------------------------------------------------------

    def _in_namespace(self, cgroups: Sequence[Path], workdir: Path) -> list[str]:
        return [
            "/bin/sh",
            "-c",
            _ENTER_CGROUPS,
            "sh",
            *map(str, cgroups),
            "--",
            "nsenter",
            f"--mount={self._namespace}",
            f"--wd={workdir}",
            "--",
        ]

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        cgroups: Sequence[Path],
        log: Path,
        workdir: Path = Path("/"),
    ) -> subprocess.Popen:
        # A daemon of ours: in its own session so a Ctrl-C at the terminal
        # reaches pytest only, which then tears down in order.
        with open(log, "ab") as out:
            return subprocess.Popen(
                [*self._in_namespace(cgroups, workdir), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def _login_environment(self, account: Account) -> dict[str, str]:
        variables = {
            "HOME": str(account.home),
            "USER": account.name,
            "LOGNAME": account.name,
            "SHELL": "/bin/bash",
            "PATH": USER_PATH,
            "LANG": "C.UTF-8",
        }
        if account.has_user_manager:
            variables["XDG_RUNTIME_DIR"] = str(account.runtime_dir)
        return variables

    # -- sshd and client configuration ------------------------------------------

    def _write_sshd_config(self) -> None:
        lines = [
            "# Written by tests/support/loopback.py for one test run.",
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self.base / 'sshd' / 'ssh_host_ed25519_key'}",
            f"PidFile {self.base / 'sshd' / 'sshd.pid'}",
            "AuthenticationMethods publickey",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin no",
            f"AllowUsers {PREFIX}{self.token}-*",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "X11Forwarding no",
            # Tests multiplex many sessions (tail -F, pokes) over one ControlMaster
            # connection and may open many connections at once.
            "MaxSessions 100",
            "MaxStartups 100",
            "LogLevel INFO",
            "Subsystem sftp internal-sftp",
        ]
        # Match blocks must come last: they run to the end of the file.
        for account in self.accounts:
            if account.has_user_manager:
                lines += [
                    f"Match User {account.name}",
                    f"    SetEnv XDG_RUNTIME_DIR={account.runtime_dir}",
                ]
        _write_atomically(self._sshd_config, "\n".join(lines) + "\n", 0o600)

    def _write_ssh_config(self) -> None:
        blocks = ["# Written by tests/support/loopback.py for one test run."]
        for account in self.accounts:
            blocks.append(
                f"Host {account.name}\n"
                f"    HostName 127.0.0.1\n"
                f"    Port {self.port}\n"
                f"    User {account.name}\n"
                f"    IdentityFile {self.client_key}\n"
                f"    IdentitiesOnly yes\n"
                f"    UserKnownHostsFile {self.known_hosts}\n"
                f"    GlobalKnownHostsFile /dev/null\n"
                f"    StrictHostKeyChecking yes\n"
                f"    BatchMode yes\n"
                f"    ConnectTimeout 5\n"
                f"    ControlMaster auto\n"
                f"    ControlPath {self._control_dir}/%C\n"
                f"    ControlPersist 60\n"
                f"    LogLevel ERROR\n"
            )
        # Replaced in one rename: ssh processes may be reading it right now.
        _write_atomically(self.ssh_config, "\n".join(blocks), 0o600)

    def _reload_sshd(self) -> None:
        check = subprocess.run(
            [SSHD, "-t", "-f", str(self._sshd_config)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise LoopbackError(f"sshd rejects its new config: {check.stderr.strip()}")
        if self._sshd is None:
            return  # stopped on purpose; start_sshd will read the new config
        offset = _size(self.sshd_log)
        # sshd -D re-executes itself on SIGHUP with the same pid; established
        # connections are untouched.
        _signal(self._sshd, signal.SIGHUP)
        self._wait_sshd_listening(offset, "sshd to listen again after a reload")

    def _wait_sshd_listening(self, offset: int, what: str) -> None:
        # The log line, not a connect: a connect can reach the old listener just
        # before a reload closes it, or someone else's process on the same port.
        process = self._sshd
        assert process is not None
        log = self.sshd_log
        _wait_for(
            what,
            lambda: f"Server listening on 127.0.0.1 port {self.port}" in _read_from(log, offset),
            START_TIMEOUT,
            problem=lambda: _exited(process, log),
        )

    def _forget_master(self, account: Account) -> None:
        # Ends the ControlPersist master for this alias, if one runs, so no ssh
        # client process outlives the account.
        subprocess.run(
            [*self.ssh_argv(), "-O", "exit", account.name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STOP_TIMEOUT,
        )

    # -- small helpers ----------------------------------------------------------

    def _stop_user_manager(self, account: Account) -> None:
        process = self._managers.pop(account.name, None)
        if process is not None:
            # SIGTERM lets it stop its units in order; whatever outlives it goes
            # with its cgroup.
            _terminate(process, f"the user manager of {account.name}")
            _kill_cgroup(_cgroup_roots()[0] / account.name)

    def _new_name(self, hint: str) -> str:
        clean = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-") or "host"
        stem = f"{PREFIX}{self.token}-{clean}"[:32]
        taken = {account.name for account in self.accounts}
        name, number = stem, 1
        while name in taken or _user_exists(name):
            number += 1
            name = f"{stem[: 32 - len(str(number))]}{number}"
        return name

    def _cgroup_root(self) -> Path:
        return _cgroup_roots()[0] / f"{PREFIX}{self.token}.run"

    def _cgroup(self, leaf: str) -> Path:
        return self._cgroup_root() / leaf

    def _check_open(self) -> None:
        if self._closed:
            raise LoopbackError("this Loopback is closed")


# -- module-level helpers --------------------------------------------------------

_open_loopbacks: set[Loopback] = set()


@atexit.register
def _close_forgotten() -> None:
    # Last resort when a fixture's finalizer did not run; the next run's
    # remove_leftovers covers a process that was killed outright.
    for loopback in list(_open_loopbacks):
        try:
            loopback.close()
        except Exception as error:  # at exit there is nobody left to raise to
            logger.warning("loopback cleanup at exit: %s", error)


def _require_root_and_tools() -> None:
    if os.geteuid() != 0:
        raise LoopbackError(
            "the loopback fleet needs root: it creates users, starts sshd and "
            "enters mount namespaces (run the tests as root, as tests/run does in CI)"
        )
    missing = [
        tool
        for tool in ("ssh", "ssh-keygen", "unshare", "nsenter", "setpriv", "useradd", "userdel")
        if shutil.which(tool) is None
    ]
    missing += [path for path in (SSHD, USER_MANAGER) if not os.access(path, os.X_OK)]
    if missing:
        raise LoopbackError(
            f"missing {', '.join(missing)}: install openssh-server, openssh-client, "
            "systemd, util-linux and passwd (tests/run does)"
        )


def _claim_run_directory() -> tuple[str, Path, int]:
    """Pick a fresh run token and lock its directory for as long as we live."""
    for _ in range(100):
        token = "".join(random.choices(string.ascii_lowercase, k=5))
        base = TEMP_PARENT / f"{PREFIX}{token}.loopback"
        if base.exists() or any(_token_in_use(token, root) for root in _cgroup_roots()):
            continue
        # Made and locked under a name remove_leftovers ignores, then renamed:
        # another run must never see the directory without its lock held.
        making = Path(tempfile.mkdtemp(prefix=f".{PREFIX}{token}.", dir=TEMP_PARENT))
        fd = os.open(making / "owner.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # 0755: the accounts must traverse it to reach their homes.
        making.chmod(0o755)
        try:
            making.rename(base)
        except OSError:
            os.close(fd)
            shutil.rmtree(making)
            continue
        return token, base, fd
    raise LoopbackError("could not find an unused run token")


def _token_in_use(token: str, cgroup_root: Path) -> bool:
    return any(path.name.startswith(f"{PREFIX}{token}") for path in cgroup_root.iterdir())


def remove_leftovers() -> None:
    """Remove what runs that died without close() left: processes, cgroups, users, files.

    A run is alive while its process holds the lock on /tmp/ct<token>.loopback/owner.lock
    (the kernel drops it when the process dies, however it dies); runs that are alive,
    such as another test session on the same machine, are left alone.
    """
    # One cleaner at a time: two runs starting together must not both tear
    # down the same dead run.
    guard = os.open(TEMP_PARENT / CLEANUP_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        _remove_dead_runs()
    finally:
        os.close(guard)


def _remove_dead_runs() -> None:
    tokens: set[str] = set()
    for root in _cgroup_roots():
        tokens |= {m.group(1) for p in root.iterdir() if (m := _NAME_RE.match(p.name))}
    tokens |= {m.group(1) for p in TEMP_PARENT.iterdir() if (m := _NAME_RE.match(p.name))}
    users = [u for u in pwd.getpwall() if _NAME_RE.match(u.pw_name) and u.pw_gecos == MARKER]
    tokens |= {_NAME_RE.match(u.pw_name).group(1) for u in users}  # type: ignore[union-attr]

    for token in sorted(tokens):
        alive, lock = _is_alive(token)
        if alive:
            continue
        logger.info("removing leftovers of dead loopback run %s", token)
        stem = f"{PREFIX}{token}"
        base = TEMP_PARENT / f"{stem}.loopback"
        mine = [user for user in users if user.pw_name.startswith(f"{stem}-")]
        names = [user.pw_name for user in mine]
        config = base / "client" / "ssh_config"
        if config.exists():
            # The dead run's ssh masters (root's, outside its cgroups) would
            # otherwise linger until their ControlPersist runs out.
            for name in names:
                subprocess.run(
                    ["ssh", "-F", str(config), "-O", "exit", name],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=STOP_TIMEOUT,
                )
        cgroups = [cgroup for root in _cgroup_roots() for cgroup in root.glob(f"{stem}[-.]*")]
        for cgroup in cgroups:
            _kill_cgroup(cgroup)
        for user in mine:
            _kill_user_processes(user.pw_uid)
        for cgroup in cgroups:
            _remove_cgroup_tree(cgroup)
        for name in names:
            _userdel(name)
        shutil.rmtree(base, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def _is_alive(token: str) -> tuple[bool, Optional[int]]:
    """Whether the run holds its lock; if it is dead, the lock fd, now held by us."""
    try:
        fd = os.open(TEMP_PARENT / f"{PREFIX}{token}.loopback" / "owner.lock", os.O_RDWR)
    except FileNotFoundError:
        return False, None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True, None
    return False, fd


def _cgroup_roots() -> list[Path]:
    """The unified (cgroup2) hierarchy first, then name=systemd where it is mounted."""
    unified: Optional[Path] = None
    named: Optional[Path] = None
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, mountpoint, fstype, options = line.split()[:4]
            if fstype == "cgroup2" and unified is None:
                unified = Path(mountpoint)
            elif fstype == "cgroup" and "name=systemd" in options.split(","):
                named = Path(mountpoint)
    if unified is None:
        raise LoopbackError("no cgroup2 hierarchy is mounted (needed for user managers)")
    return [unified] + ([named] if named else [])


def _cgroup_pids(cgroup: Path) -> list[int]:
    pids = []
    for procs in cgroup.rglob("cgroup.procs"):
        with contextlib.suppress(FileNotFoundError):  # removed while we walked
            pids += [int(pid) for pid in procs.read_text().split()]
    return pids


def _kill_cgroup(cgroup: Path) -> None:
    """SIGKILL every process in cgroup and below, and wait until none is left."""
    if not cgroup.is_dir():
        return
    kill = cgroup / "cgroup.kill"
    if kill.exists():
        kill.write_text("1")

    def empty() -> bool:
        # Also what older kernels without cgroup.kill rely on; repeated because
        # a process may fork while we kill.
        pids = _cgroup_pids(cgroup)
        for pid in pids:
            _kill_pid(pid)
        return not pids

    _wait_for(f"the processes of {cgroup} to end", empty, STOP_TIMEOUT)


def _remove_cgroup_tree(cgroup: Path) -> None:
    if not cgroup.is_dir():
        return
    # Deepest first: a cgroup with children cannot be removed. Its control files
    # are not files to delete; rmdir takes them along.
    for directory, _, _ in sorted(os.walk(cgroup), key=lambda entry: -len(entry[0])):
        _wait_for(f"{directory} to be removable", lambda d=directory: _try_rmdir(d), STOP_TIMEOUT)


def _try_rmdir(directory: str) -> bool:
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno == errno.EBUSY:
            return False  # a process is still leaving it
        raise
    return True


def _kill_user_processes(uid: int) -> None:
    """SIGKILL every live process of uid, by pid, until none is left."""

    def none_left() -> bool:
        pids = _user_pids(uid)
        for pid in pids:
            _kill_pid(pid)
        return not pids

    _wait_for(f"the processes of uid {uid} to end", none_left, STOP_TIMEOUT)


def _user_pids(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        # Zombies are already dead; their parent reaps them.
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(entry.name))
    return pids


def _kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _signal(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is None:
        process.send_signal(signum)


def _terminate(process: subprocess.Popen, what: str) -> None:
    _signal(process, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        logger.warning("%s ignored SIGTERM for %g s; killing it", what, STOP_TIMEOUT)
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _exited(process: subprocess.Popen, log: Path) -> Optional[str]:
    if process.poll() is None:
        return None
    return f"exited with status {process.returncode}: {_tail(log) or 'no output'}"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _useradd(name: str, home: Path) -> None:
    # -p '*': no password, yet not "locked", which sshd would refuse even for keys.
    argv = ["useradd", "-m", "-d", str(home), "-s", "/bin/bash", "-p", "*", "-c", MARKER, name]
    _retry_while_locked(argv)


def _userdel(name: str) -> None:
    if _user_exists(name):
        _retry_while_locked(["userdel", "-r", name])


def _retry_while_locked(argv: list[str]) -> None:
    # useradd and userdel lock /etc/passwd; another test run on the machine may
    # hold the lock for a moment.
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        result = subprocess.run(argv, capture_output=True, text=True)
        # userdel exits 12 when the home is gone already, which is fine.
        if result.returncode == 0 or (argv[0] == "userdel" and result.returncode == 12):
            return
        if "lock" not in result.stderr or time.monotonic() > deadline:
            raise LoopbackError(f"{shlex.join(argv)} failed: {result.stderr.strip()}")
        time.sleep(0.05)


def _as_user(account: Account) -> list[str]:
    return [
        "setpriv",
        f"--reuid={account.uid}",
        f"--regid={account.gid}",
        "--init-groups",
        "--",
    ]


def _free_port() -> int:
    # Below the ephemeral range, so that while sshd is stopped the port is not
    # handed out as the local end of some outgoing connection.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(20000, max(low, 20001))
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise LoopbackError("no free port on 127.0.0.1")


def _wait_for(
    what: str,
    ready: Callable[[], bool],
    timeout: float,
    problem: Optional[Callable[[], Optional[str]]] = None,
) -> None:
    """Poll ready() until it is true, failing early when problem() has something to say."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not ready():
        trouble = problem() if problem else None
        if trouble:
            raise LoopbackError(f"gave up waiting for {what}: {trouble}")
        if time.monotonic() > deadline:
            raise LoopbackError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise LoopbackError(f"{shlex.join(argv)} failed: {result.stderr.strip()}")


def _write_atomically(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    temporary.chmod(mode)
    temporary.replace(path)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(_read_from(path, 0).splitlines()[-lines:])
