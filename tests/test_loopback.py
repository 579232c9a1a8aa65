"""Self-tests of the loopback fleet: real sshd, real user managers, nothing left behind."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import paramiko
import pytest
import testinfra
from support.loopback import PREFIX, Loopback


def ssh(loopback: Loopback, alias: str, *command: str) -> subprocess.CompletedProcess:
    """The plain command line a user (or COORD_SSH) would type; ssh options may precede the
    remote command, which comes last."""
    return subprocess.run(
        [*loopback.ssh_argv(), *command[:-1], alias, command[-1]],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


def port_answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def eventually(check, timeout: float = 10.0):
    """The first true value of check(), polled until timeout; None if there was none."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        try:
            argv = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and text in argv and entry.name != str(os.getpid()):
            found.append(f"{entry.name}: {argv}")
    return found


def processes_of(uid: int) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].startswith("Z"):
            found.append(f"{entry.name}: {fields['Name']}")
    return found


def cgroups_of_run(token: str) -> list[Path]:
    roots = [Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup")]
    return [path for root in roots if root.is_dir() for path in root.glob(f"{PREFIX}{token}*")]


def assert_nothing_left(token: str, base: Path, names: list[str], uids: list[int]) -> None:
    for name in names:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    for uid in uids:
        assert processes_of(uid) == []
    assert cgroups_of_run(token) == []
    assert not base.exists()
    # ssh masters exit when asked, but a moment after answering.
    eventually(lambda: not processes_mentioning(str(base)), timeout=3)
    assert processes_mentioning(str(base)) == []


def test_ssh_runs_a_command_as_the_account(loopback, hub_account):
    result = ssh(loopback, hub_account.name, "id -un; echo $SSH_CONNECTION")

    assert result.returncode == 0, result.stderr
    user, connection = result.stdout.splitlines()
    assert user == hub_account.name
    assert connection.split()[2:] == ["127.0.0.1", str(loopback.port)]


def test_second_command_reuses_the_control_master(loopback, make_account):
    account = make_account("mux")

    for _ in range(3):
        assert ssh(loopback, account.name, "true").returncode == 0
    check = subprocess.run(
        [*loopback.ssh_argv(), "-O", "check", account.name], capture_output=True, text=True
    )

    assert check.returncode == 0, check.stderr
    assert "Master running" in check.stderr
    # The server's side: three commands, one login.
    logins = loopback.sshd_log.read_text().count(f"Accepted publickey for {account.name} ")
    assert logins == 1


def test_sshd_restarts_on_the_same_port(loopback, make_account):
    account = make_account("restart")
    port = loopback.port
    assert ssh(loopback, account.name, "true").returncode == 0

    loopback.stop_sshd()
    try:
        down = ssh(loopback, account.name, "true")
        answered = port_answers(port)
    finally:
        loopback.start_sshd()

    assert down.returncode == 255
    assert not answered
    assert loopback.port == port
    up = ssh(loopback, account.name, "id -un")
    assert (up.returncode, up.stdout.strip()) == (0, account.name)


def test_stopping_the_listener_only_keeps_sessions(loopback, make_account):
    account = make_account("keep")
    assert ssh(loopback, account.name, "true").returncode == 0

    loopback.stop_sshd(keep_sessions=True)
    try:
        through_master = ssh(loopback, account.name, "id -un")
        fresh = ssh(loopback, account.name, "-o", "ControlPath=none", "true")
    finally:
        loopback.start_sshd()

    assert (through_master.returncode, through_master.stdout.strip()) == (0, account.name)
    assert fresh.returncode == 255


def test_user_manager_runs_a_timer(loopback, make_account):
    account = make_account("timer", user_manager=True)
    state = ssh(loopback, account.name, "systemctl --user is-system-running")
    assert state.stdout.strip() in ("running", "degraded"), state

    units = {
        "selftest.service": """
            [Service]
            Type=oneshot
            ExecStart=/bin/echo fired
            StandardOutput=append:%h/timer.out
        """,
        # The default AccuracySec of a minute would let the timer fire that late.
        "selftest.timer": """
            [Timer]
            OnActiveSec=100ms
            AccuracySec=1ms
        """,
    }
    for unit, text in units.items():
        written = loopback.ssh(
            account,
            f"mkdir -p ~/.config/systemd/user && cat > ~/.config/systemd/user/{unit}",
            input=textwrap.dedent(text).lstrip(),
        )
        assert written.returncode == 0, written.stderr
    started = ssh(
        loopback,
        account.name,
        "systemctl --user daemon-reload && systemctl --user start selftest.timer",
    )
    assert started.returncode == 0, started.stderr

    output = account.home / "timer.out"
    assert eventually(lambda: output.exists() and output.read_text() == "fired\n"), (
        "the timer's service never wrote its output"
    )

    def finished():
        shown = ssh(
            loopback,
            account.name,
            "systemctl --user show -p ActiveState -p Result selftest.service",
        ).stdout
        return "ActiveState=inactive" in shown and shown

    assert "Result=success" in eventually(finished)


def test_run_as_runs_locally_as_the_account_in_the_namespace(loopback, make_account):
    account = make_account("local", user_manager=True)

    script = """
        id -un; pwd; echo "$XDG_RUNTIME_DIR $EXTRA"
        systemctl --user is-active default.target
    """
    result = loopback.run_as(account, ["sh", "-c", script], env={"EXTRA": "given"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        account.name,
        str(account.home),
        f"{account.runtime_dir} given",
        "active",
    ]


def test_paramiko_reaches_an_account_as_pyinfra_would(loopback, hub_account):
    data = loopback.pyinfra_data(hub_account)
    client = paramiko.SSHClient()
    client.load_host_keys(data["ssh_known_hosts_file"])
    # Strict, as ssh_strict_host_key_checking="yes": the pre-filled key must match.
    client.set_missing_host_key_policy(paramiko.RejectPolicy())

    try:
        client.connect(
            data["ssh_hostname"],
            port=data["ssh_port"],
            username=data["ssh_user"],
            key_filename=data["ssh_key"],
            allow_agent=False,
            look_for_keys=False,
            timeout=5,
        )
        _, stdout, _ = client.exec_command("id -un")
        user = stdout.read().decode().strip()
    finally:
        client.close()

    assert user == hub_account.name


def test_testinfra_reaches_an_account_through_the_ssh_config(loopback, hub_account):
    host = testinfra.get_host(f"ssh://{hub_account.name}", ssh_config=str(loopback.ssh_config))

    assert host.run("id -un").stdout.strip() == hub_account.name
    assert host.file(str(hub_account.home)).user == hub_account.name


def test_close_leaves_nothing_behind():
    fleet = Loopback()
    try:
        managed = fleet.add_account("gone", user_manager=True)
        plain = fleet.add_account("plain")
        # Strays that only a thorough teardown catches: a daemon left by an ssh
        # session, one left by a local command.
        stray = "sleep 600 </dev/null >/dev/null 2>&1 &"
        assert fleet.ssh(managed, stray).returncode == 0
        assert fleet.run_as(plain, ["sh", "-c", stray]).returncode == 0
        daemons = fleet.daemon_pids()
        assert set(daemons) == {"namespace", "sshd", managed.name}
        assert processes_of(managed.uid) and processes_of(plain.uid)
    finally:
        fleet.close()

    for pid in daemons.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not port_answers(fleet.port)
    assert_nothing_left(
        fleet.token, fleet.base, [managed.name, plain.name], [managed.uid, plain.uid]
    )


CRASHING_RUN = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from support.loopback import Loopback
fleet = Loopback()
account = fleet.add_account("crash", user_manager=True)
fleet.ssh(account, "sleep 600 </dev/null >/dev/null 2>&1 &")
print(json.dumps({"token": fleet.token, "base": str(fleet.base), "name": account.name,
                  "uid": account.uid, "pids": list(fleet.daemon_pids().values())}))
sys.stdout.flush()
os._exit(0)  # no close(), no atexit: as if the run had been killed
"""


def test_a_new_run_removes_what_a_killed_run_left(loopback, hub_account):
    tests_dir = str(Path(__file__).parent)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, tests_dir],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode == 0, crashed.stderr
    left = json.loads(crashed.stdout)
    base = Path(left["base"])
    assert base.exists() and pwd.getpwnam(left["name"])
    assert all(eventually(lambda pid=pid: os.path.exists(f"/proc/{pid}")) for pid in left["pids"])

    Loopback().close()

    assert_nothing_left(left["token"], base, [left["name"]], [left["uid"]])
    # This session's own fleet is alive, so it was left alone.
    assert ssh(loopback, hub_account.name, "id -un").stdout.strip() == hub_account.name
