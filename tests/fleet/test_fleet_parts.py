"""The deploy's parts that need no fleet: the text editor it runs on hosts, the rendered
files (units, plists, ssh and coord settings), the launchctl steps it picks on macOS,
the inventory, the runtime archive and the Dockerfile.
"""

from __future__ import annotations

import configparser
import io
import os
import plistlib
import re
import runpy
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from fleetkit import ROOT
from pyinfra.api import StringCommand
from pyinfra.api.util import get_template
from pyinfra.context import ctx_host

from tasks import operations
from tasks.facts import EDIT_TEXT
from tasks.helpers import (
    MANAGED,
    RC_BEGIN,
    RC_END,
    SSH_BLOCK_START,
    SSH_INCLUDE,
    TEMPLATES,
    FleetError,
    jinja_options,
    jobs,
    make_plan,
    runtime_archive,
    scheduler_for,
)

# The editor runs on every host's own python3: macOS ships 3.9.
_OLDEST = sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")) + [
    path for path in [Path("/usr/bin/python3.9")] if path.is_file()
]
PYTHONS = [pytest.param(sys.executable, id="py{}.{}".format(*sys.version_info[:2]))] + [
    pytest.param(str(path), id="py3.9") for path in _OLDEST[:1]
]
HUB = {"alias": "zeus", "hostname": "zeus.local", "port": 2222, "user": "pi", "host_key": None}
YODA = {
    "coord_yoda": True,
    "coord_yoda_id": "mac-1",
    "coord_remote": "zeus:coord.git",
    "coord_hub_access": HUB,
    "coord_hooks": True,
}


def mac_plan(**data):
    return make_plan({**YODA, **data}, home="/Users/me", kernel="Darwin", login_shell="/bin/zsh")


def linux_plan(home="/home/me", **data):
    return make_plan({**YODA, **data}, home=home, kernel="Linux", login_shell="/bin/bash")


def render(name: str, **context) -> str:
    template = get_template(str(TEMPLATES / name), jinja_env_kwargs=jinja_options())
    return template.render(**context)


# -- the editor of the user's files ------------------------------------------------------


def edit(python: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-c", EDIT_TEXT, *argv], capture_output=True, text=True, check=False
    )


BLOCK = f"{RC_BEGIN} note\nexport YODA_ID=mac-1\n{RC_END}\n"


@pytest.mark.parametrize("python", PYTHONS)
def test_block_round_trip_keeps_every_other_byte(python, tmp_path):
    rc = tmp_path / "rc"
    # Not UTF-8 and no final newline: both must survive untouched.
    original = b"# caf\xe9 latin-1\nexport A=1"
    rc.write_bytes(original)

    assert edit(python, "put", str(rc), RC_BEGIN, RC_END, BLOCK, "644", "").returncode == 0
    assert rc.read_bytes() == BLOCK.encode() + original
    rc.write_bytes(b"above\n" + rc.read_bytes() + b"\nbelow")
    assert edit(python, "remove", str(rc), RC_BEGIN, RC_END).returncode == 0

    assert rc.read_bytes() == b"above\n" + original + b"\nbelow"


@pytest.mark.parametrize("python", PYTHONS)
def test_block_in_a_new_file_goes_with_it(python, tmp_path):
    rc = tmp_path / "rc"

    edit(python, "put", str(rc), RC_BEGIN, RC_END, BLOCK, "600", "")
    mode = rc.stat().st_mode & 0o777
    edit(python, "remove", str(rc), RC_BEGIN, RC_END)

    assert mode == 0o600
    assert not rc.exists()


@pytest.mark.parametrize("python", PYTHONS)
def test_block_is_replaced_in_place_not_added_twice(python, tmp_path):
    rc = tmp_path / "rc"
    rc.write_text(f"one\n{RC_BEGIN} old\nexport YODA_ID=old\n{RC_END}\ntwo\n")

    edit(python, "put", str(rc), RC_BEGIN, RC_END, BLOCK, "644", "")

    assert rc.read_text() == f"one\n{BLOCK}two\n"


@pytest.mark.parametrize("python", PYTHONS)
def test_block_edits_through_a_symlinked_rc_file(python, tmp_path):
    real = tmp_path / "dotfiles" / "bashrc"
    real.parent.mkdir()
    real.write_text("mine\n")
    rc = tmp_path / "rc"
    rc.symlink_to(real)

    edit(python, "put", str(rc), RC_BEGIN, RC_END, BLOCK, "644", "")

    assert rc.is_symlink()
    assert real.read_text() == BLOCK + "mine\n"


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("opening", ["Host work", "host work", "Host=work", "  MATCH host work"])
def test_include_below_a_host_block_is_moved_to_the_top(python, opening, tmp_path):
    """ssh reads keywords in any case, and with '=' as well as a space."""
    config = tmp_path / "config"
    config.write_text(f"{opening}\n    User me\n{SSH_INCLUDE}\nHost *\n    Port 22\n")

    read = edit(python, "read", str(config), SSH_INCLUDE, SSH_INCLUDE, SSH_BLOCK_START)
    edit(
        python,
        "put",
        str(config),
        SSH_INCLUDE,
        SSH_INCLUDE,
        SSH_INCLUDE + "\n",
        "600",
        SSH_BLOCK_START,
    )

    assert '"misplaced": true' in read.stdout
    assert config.read_text() == f"{SSH_INCLUDE}\n{opening}\n    User me\nHost *\n    Port 22\n"


@pytest.mark.parametrize("python", PYTHONS)
def test_include_line_is_matched_whole(python, tmp_path):
    config = tmp_path / "config"
    config.write_text(f"{SSH_INCLUDE}.d/*\n")

    read = edit(python, "read", str(config), SSH_INCLUDE, SSH_INCLUDE, "")

    assert '"region": null' in read.stdout


@pytest.mark.parametrize("python", PYTHONS)
def test_a_block_without_its_end_is_refused_and_left_alone(python, tmp_path):
    rc = tmp_path / "rc"
    rc.write_text(f"{RC_BEGIN} cut short\nexport YODA_ID=x\n")

    result = edit(python, "put", str(rc), RC_BEGIN, RC_END, BLOCK, "644", "")

    assert result.returncode == 1
    assert str(rc) in result.stderr and RC_END in result.stderr
    assert rc.read_text() == f"{RC_BEGIN} cut short\nexport YODA_ID=x\n"


# -- rendered files ------------------------------------------------------------------------


def test_settings_file_is_read_by_coord_as_rendered():
    plan = linux_plan()

    text = render("coord-config.j2", managed=MANAGED, settings=plan.settings)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)

    assert text.splitlines()[0] == f"# {MANAGED}"
    assert list(parser["coord"].items()) == plan.settings
    assert dict(plan.settings)["hub"] == "zeus"
    assert dict(plan.settings)["state"] == "/home/me/.local/share/coord/state"


def test_hub_settings_say_local_and_the_absolute_folder():
    plan = make_plan(
        {**YODA, "coord_is_hub": True, "coord_hub_access": None},
        home="/home/pi",
        kernel="Linux",
    )

    assert dict(plan.settings)["hub"] == "local"
    assert dict(plan.settings)["hub_dir"] == "/home/pi/coord"


def test_units_run_the_linked_commands_and_append_their_output():
    plan = linux_plan()
    sync, heartbeat, watch = plan.jobs

    service = render("coord-job.service.j2", **plan.service_context(sync))
    timer = render("coord-job.timer.j2", **plan.service_context(sync))
    watcher = render("coord-job.service.j2", **plan.service_context(watch))

    assert service.splitlines()[0] == f"# {MANAGED}"
    assert "ExecStart=%h/.local/bin/coord-sync\n" in service
    assert "StandardOutput=append:%h/.local/state/coord/log/coord-sync.log\n" in service
    assert "Type=oneshot\n" in service and "[Install]" not in service
    assert "OnUnitActiveSec=60s\n" in timer and "WantedBy=timers.target\n" in timer
    assert "ExecStart=%h/.local/bin/coord-watch --mirror\n" in watcher
    assert "Restart=on-failure\n" in watcher and "WantedBy=default.target\n" in watcher
    assert [job.units for job in plan.jobs] == [
        ["coord-sync.service", "coord-sync.timer"],
        ["coord-heartbeat.service", "coord-heartbeat.timer"],
        ["coord-watch.service"],
    ]


@pytest.mark.parametrize("job", jobs(), ids=lambda job: job.name)
def test_plists_are_valid_launchd_agents(job):
    plan = mac_plan()

    text = render("coord-job.plist.j2", **plan.agent_context(job))
    agent = plistlib.loads(text.encode())

    assert f"<!-- {MANAGED} -->" in text.splitlines()[1]
    assert agent["Label"] == job.label == f"llamaclaw.parallelism.{job.name}"
    assert agent["ProgramArguments"] == [f"/Users/me/.local/bin/{job.argv[0]}", *job.argv[1:]]
    assert agent["RunAtLoad"] is True
    assert agent["StandardOutPath"] == agent["StandardErrorPath"]
    assert agent["StandardOutPath"] == f"/Users/me/Library/Logs/coord/{job.name}.log"
    assert agent["EnvironmentVariables"]["PATH"].startswith("/Users/me/.local/bin:")
    if job.every:
        assert type(agent["StartInterval"]) is int and agent["StartInterval"] == 60
        assert "KeepAlive" not in agent
    else:
        assert agent["KeepAlive"] == {"SuccessfulExit": False}
        assert "StartInterval" not in agent
    known = {
        "Label": str,
        "ProgramArguments": list,
        "StartInterval": int,
        "KeepAlive": dict,
        "ThrottleInterval": int,
        "RunAtLoad": bool,
        "ProcessType": str,
        "EnvironmentVariables": dict,
        "StandardOutPath": str,
        "StandardErrorPath": str,
    }
    assert {key: type(value) for key, value in agent.items()} == {
        key: kind for key, kind in known.items() if key in agent
    }
    assert all(isinstance(word, str) for word in agent["ProgramArguments"])


def test_plist_escapes_what_xml_would_not_take():
    plan = mac_plan(coord_bin_dir="/Users/me/bin & <tools>")

    agent = plistlib.loads(render("coord-job.plist.j2", **plan.agent_context(jobs()[0])).encode())

    assert agent["ProgramArguments"] == ["/Users/me/bin & <tools>/coord-sync"]


def test_ssh_settings_are_what_ssh_makes_of_them(tmp_path):
    plan = linux_plan(home=str(tmp_path), coord_hub_access={**HUB, "host_key": "ssh-ed25519 AAAA"})
    conf = tmp_path / "coord.conf"
    conf.write_text(
        render(
            "coord-ssh.conf.j2",
            managed=MANAGED,
            hub=plan.hub_access,
            known_hosts=plan.known_hosts,
            mux_dir=plan.mux_dir,
            control_persist=plan.control_persist,
        )
    )

    shown = subprocess.run(["ssh", "-G", "-F", str(conf), "zeus"], capture_output=True, text=True)
    settings = dict(line.split(" ", 1) for line in shown.stdout.splitlines() if " " in line)

    assert shown.returncode == 0, shown.stderr
    assert (settings["hostname"], settings["port"], settings["user"]) == (
        "zeus.local",
        "2222",
        "pi",
    )
    assert settings["controlmaster"] == "auto"
    assert settings["controlpath"] == f"{tmp_path}/.ssh/coord-mux/pi@zeus.local:2222"
    assert settings["controlpersist"] == "600"
    assert settings["hostkeyalias"] == "zeus"
    assert settings["userknownhostsfile"] == f"{tmp_path}/.ssh/coord_known_hosts"
    assert settings["stricthostkeychecking"] == "true"


def test_rc_block_sets_the_yoda_and_path_once(tmp_path):
    plan = linux_plan(home=str(tmp_path))
    rc = tmp_path / ".bashrc"
    rc.write_text(plan.rc_text + plan.rc_text)

    shown = subprocess.run(
        ["bash", "--norc", "-c", f'. {rc}; printf "%s %s" "$YODA_ID" "$PATH"'],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )

    assert shown.stdout == f"mac-1 {tmp_path}/.local/bin:/usr/bin:/bin"
    assert plan.rc_files == [f"{tmp_path}/.bashrc"]


# -- which scheduler, and the launchctl steps ---------------------------------------------


def test_scheduler_follows_the_kernel():
    assert scheduler_for("Darwin") == "launchd"
    assert scheduler_for("Linux") == "systemd"
    assert scheduler_for("FreeBSD") == "none"
    assert scheduler_for("Linux", "none") == "none"
    assert mac_plan().scheduler == "launchd"
    assert linux_plan().scheduler == "systemd"
    with pytest.raises(FleetError):
        scheduler_for("Linux", "cron")


class FakeHost:
    """Just enough of a pyinfra host to run one operation's body against given facts."""

    name = "mac-1"

    def __init__(self, facts: dict):
        self.facts = facts
        self.noops: list[str] = []

    def get_fact(self, fact, **kwargs):
        return self.facts[fact.__name__]

    def noop(self, description: str) -> None:
        self.noops.append(description)


def launchctl_commands(loaded: bool, **kwargs) -> list[str]:
    job = jobs()[0]
    with ctx_host.use(FakeHost({"LaunchAgentLoaded": loaded})):
        commands = list(
            operations.launch_agent._inner(job=job, plist="/p.plist", uid=501, **kwargs)
        )
    return [command.get_raw_value() for command in commands if isinstance(command, StringCommand)]


@pytest.mark.parametrize(
    "loaded, kwargs, expected",
    [
        (False, {}, ["launchctl bootstrap gui/501 /p.plist"]),
        (True, {}, []),
        (
            True,
            {"reload": True},
            [
                "launchctl bootout gui/501/llamaclaw.parallelism.coord-sync",
                "launchctl bootstrap gui/501 /p.plist",
            ],
        ),
        (False, {"reload": True}, ["launchctl bootstrap gui/501 /p.plist"]),
        (True, {"present": False}, ["launchctl bootout gui/501/llamaclaw.parallelism.coord-sync"]),
        (False, {"present": False}, []),
    ],
    ids=["load", "loaded", "reload", "reload-unloaded", "unload", "unloaded"],
)
def test_launchctl_steps_follow_the_agents_state(loaded, kwargs, expected):
    assert launchctl_commands(loaded, **kwargs) == expected


# -- plans, inventory, archive, image ------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        ({"coord_yoda_id": "-x"}, "coord_yoda_id"),
        ({"coord_yoda_id": "a/b"}, "coord_yoda_id"),
        ({"coord_hub_access": None}, "coord_hub_access"),
        ({"coord_remote": ""}, "coord_remote"),
        ({"coord_state": "gone"}, "coord_state"),
        ({"coord_branch": "main\n[evil]"}, "one line"),
        ({"coord_hooks": "perhaps"}, "true or false"),
    ],
)
def test_bad_host_data_is_refused_with_its_name(data, message):
    with pytest.raises(FleetError, match=re.escape(message)):
        linux_plan(**data)


def load_inventory(monkeypatch, fleet: str | None, folder: Path | None = None) -> dict:
    if fleet is None:
        monkeypatch.delenv("COORD_FLEET", raising=False)
    else:
        monkeypatch.setenv("COORD_FLEET", fleet)
    inventory = (folder or ROOT) / "inventory.py"
    return runpy.run_path(str(inventory))


def test_example_fleet_file_is_a_valid_fleet(monkeypatch):
    groups = load_inventory(monkeypatch, str(ROOT / "fleet.example.toml"))

    yodas = dict(groups["yodas"])
    hub = dict(groups["hub"])
    assert sorted(yodas) == ["mac-1", "mac-2"]
    assert list(hub) == ["zeus"]
    assert hub["zeus"]["coord_yoda"] is False and hub["zeus"]["coord_is_hub"] is True
    assert hub["zeus"]["coord_bare_repository"] == "coord.git"
    mac = yodas["mac-1"]
    assert mac["ssh_hostname"] == "mac-1.local" and mac["coord_remote"] == "zeus:coord.git"
    assert mac["coord_hub_access"]["hostname"] == "zeus.local"
    assert mac["coord_hub_access"]["user"] == "pi"
    plan = make_plan(mac, home="/Users/me", kernel="Darwin", login_shell="/bin/zsh")
    assert dict(plan.settings)["hub"] == "zeus" and plan.hub_access.port == 22


@pytest.mark.parametrize(
    "text, message",
    [
        ('[fleet]\nhub = "h"\n[hosts.h]\nssh_prot = 22\n', "unknown key 'ssh_prot'"),
        ('[fleet]\nhub = "h"\n[hosts.h]\nssh_port = "22"\n', "ssh_port = '22'"),
        ('[fleet]\nhub = "x"\n[hosts.h]\n', "must name one of the hosts"),
        ('[fleet]\nhub = "h"\n', "no hosts"),
        ('[fleet]\nhub = "h"\n[hosts.h]\nhooks = 1\n', "hooks = 1"),
        ('[fleet]\nhub = "h"\n[hosts.h]\nyoda_id = "-x"\n', "yoda_id '-x' is not allowed"),
        ('[fleet]\nhub = "h"\n[servers.h]\n', "unknown table 'servers'"),
        ("[fleet\n", "fleet.toml"),
    ],
)
def test_bad_fleet_files_are_refused_saying_where(monkeypatch, tmp_path, text, message):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(text)

    with pytest.raises(SystemExit, match=re.escape(message)):
        load_inventory(monkeypatch, str(fleet))


def test_missing_fleet_file_named_by_env_is_an_error(monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="not a file"):
        load_inventory(monkeypatch, str(tmp_path / "nowhere.toml"))


def test_without_a_fleet_file_the_fleet_is_this_machine(monkeypatch, tmp_path):
    shutil.copy(ROOT / "inventory.py", tmp_path / "inventory.py")

    groups = load_inventory(monkeypatch, None, tmp_path)

    ((name, data),) = groups["yodas"]
    assert groups["hub"] == groups["yodas"] and name == "@local"
    assert data["coord_is_hub"] is True and "coord_hub_access" not in data
    assert data["coord_bare_repository"] == "~/.local/share/coord/remote.git"
    plan = make_plan(data, home="/home/me", kernel="Linux")
    assert plan.remote == "/home/me/.local/share/coord/remote.git"


def test_runtime_archive_is_reproducible_and_clean(tmp_path):
    # A frozen copy, so that edits to the working tree meanwhile cannot interfere.
    for folder in ("runtime", "hooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder, symlinks=True)
    (tmp_path / "runtime" / "coord" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "runtime" / "coord" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")

    first = runtime_archive(tmp_path)
    for path in (tmp_path / "runtime").rglob("*.py"):
        os.utime(path, (0, 0))
    second = runtime_archive(tmp_path)
    with tarfile.open(fileobj=io.BytesIO(first.data)) as tar:
        members = {member.name: member for member in tar.getmembers()}

    assert first == second
    assert not [name for name in members if "__pycache__" in name or name.endswith(".pyc")]
    assert members["runtime/bin/coord-claim"].issym()
    assert members["runtime/bin/coord-claim"].linkname == "coord"
    assert members["runtime/bin/coord"].mode == 0o755
    assert "runtime/coord/__init__.py" in members and "hooks" in members


def test_dockerfile_copies_what_exists_and_pins_pyproject_versions():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = [
        word.rstrip("/")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for word in line.split()[1:-1]
    ]
    pins = dict(re.findall(r"([a-z][a-z-]*)==([0-9.]+)", dockerfile))
    project = dict(
        re.findall(r'"([a-z][a-z-]*)==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    )
    ignored = (ROOT / ".dockerignore").read_text().split()

    assert copied and all((ROOT / path).exists() for path in copied), copied
    assert not [path for path in copied if path in ignored]
    assert pins == {name: project[name] for name in ("pyinfra", "pytest", "pytest-testinfra")}
    # inventory.py reads the fleet file with tomllib, new in Python 3.11.
    assert "FROM python:3.11" in dockerfile


def test_deploy_never_imports_the_runtime():
    sources = [ROOT / "deploy.py", ROOT / "inventory.py", *sorted((ROOT / "tasks").glob("*.py"))]

    for source in sources:
        text = source.read_text()
        assert not re.search(r"^\s*(from|import) coord\b", text, re.M), source
