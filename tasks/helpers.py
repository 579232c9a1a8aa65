"""Plain Python shared by the deploy, the audit and the tests (no pyinfra in here).

It answers the questions every part of the deploy asks the same way: which version of
the runtime ships, what its archive holds, where each file goes on a host, which jobs
run in the background and how they are scheduled.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shlex
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = "llamaclaw-parallelism"

# First line of every file the deploy writes (after the XML declaration in plists).
MANAGED = "Managed by parallelism's deploy (pyinfra): edits here are replaced on the next deploy."

# The same rule as the runtime's coord.config.validate_id, restated because the
# deploy never imports the runtime.
ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")

# The marked block in the user's shell rc files, and the one line in ~/.ssh/config.
RC_BEGIN = "# >>> coord >>>"
RC_END = "# <<< coord <<<"
RC_FILES = {"bash": ".bashrc", "zsh": ".zshrc"}
SSH_INCLUDE = "Include ~/.ssh/coord.conf"
# ssh reads an Include inside a Host or Match block only for that block, so the
# line must come before the first of them.
SSH_BLOCK_START = r"(?i)^\s*(Host|Match)(\s|=)"

# What the runtime archive holds, and what it leaves out.
ARCHIVE_FOLDERS = ("runtime", "hooks")
SKIPPED_NAMES = ("__pycache__", ".DS_Store")
SKIPPED_SUFFIXES = (".pyc", ".pyo")

# `systemctl --user is-system-running` answers that mean a user manager is there to use.
MANAGER_READY = ("running", "degraded", "starting", "initializing")

TEMPLATES = ROOT / "templates"


def jinja_options() -> dict[str, Any]:
    """How the templates are rendered: block tags take their whole line."""
    return {"trim_blocks": True, "lstrip_blocks": True}


# PATH for launchd agents, which start with a bare one: Homebrew's folders come first.
AGENT_PATH = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


class FleetError(ValueError):
    """The fleet file or the host data asks for something the deploy cannot do."""


# -- the runtime -----------------------------------------------------------------


def runtime_version(root: Path = ROOT) -> str:
    """``__version__`` of runtime/coord/__init__.py, read as text (never imported)."""
    path = root / "runtime" / "coord" / "__init__.py"
    found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", path.read_text(), re.M)
    if not found:
        raise FleetError(f"no __version__ = '...' line in {path}")
    version = found.group(1)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+_-]*", version):
        raise FleetError(f"__version__ {version!r} in {path} is not usable as a folder name")
    return version


def runtime_commands(root: Path = ROOT) -> list[str]:
    """The programs in runtime/bin: ``coord`` and every ``coord-<name>`` link to it."""
    names = sorted(entry.name for entry in (root / "runtime" / "bin").iterdir())
    return [name for name in names if name == "coord" or name.startswith("coord-")]


@dataclass(frozen=True)
class Archive:
    """The runtime and the hooks as one gzipped tar, byte for byte the same for the same tree."""

    data: bytes
    digest: str  # sha256 of the uncompressed tar: it names what is installed


def _skipped(name: str) -> bool:
    return name in SKIPPED_NAMES or name.endswith(SKIPPED_SUFFIXES)


def _archive_entries(root: Path) -> list[Path]:
    entries = []
    for folder in ARCHIVE_FOLDERS:
        top = root / folder
        if not top.is_dir():
            raise FleetError(f"{top} is missing: the deploy ships it to every host")
        entries.append(top)
        for directory, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(name for name in dirnames if not _skipped(name))
            base = Path(directory)
            entries += [base / name for name in dirnames]
            entries += [base / name for name in sorted(filenames) if not _skipped(name)]
    return sorted(entries, key=lambda path: path.relative_to(root).as_posix())


def runtime_archive(root: Path = ROOT) -> Archive:
    """Pack runtime/ and hooks/ (no bytecode) with fixed owners, modes and times."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _archive_entries(root):
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            # Times are left out on purpose: the host's tar sets the time of
            # extraction (-m), so the same tree always packs to the same bytes.
            info.mtime = 0
            if path.is_symlink():
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                info.mode = 0o777
                tar.addfile(info)
            elif path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size = len(data)
                info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
                tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(tar_bytes)
    return Archive(packed.getvalue(), hashlib.sha256(tar_bytes).hexdigest())


# -- background jobs ---------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A coord command the host runs in the background."""

    name: str  # the unit or agent name: coord-sync
    argv: tuple[str, ...]  # the command, first word a program in the bin folder
    every: Optional[int]  # seconds between runs; None for a job that keeps running
    description: str

    @property
    def units(self) -> list[str]:
        """systemd unit files: the service, and a timer for periodic jobs."""
        service = f"{self.name}.service"
        return [service, f"{self.name}.timer"] if self.every else [service]

    @property
    def started_unit(self) -> str:
        """The unit to enable and start: the timer of a periodic job, else the service."""
        return self.units[-1]

    @property
    def label(self) -> str:
        """The launchd label."""
        return f"llamaclaw.parallelism.{self.name}"

    @property
    def log_name(self) -> str:
        return f"{self.name}.log"


def jobs(interval: int = 60) -> list[Job]:
    return [
        Job(
            "coord-sync",
            ("coord-sync",),
            interval,
            "coord: push and pull the coordination repository",
        ),
        Job(
            "coord-heartbeat",
            ("coord-heartbeat",),
            interval,
            "coord: tell the hub this Yoda is alive",
        ),
        Job(
            "coord-watch",
            ("coord-watch", "--mirror"),
            None,
            "coord: keep a local mirror of the hub's pokes",
        ),
    ]


def scheduler_for(kernel: str, choice: str = "auto") -> str:
    """Which service manager runs the jobs: systemd on Linux, launchd on macOS."""
    if choice not in ("auto", "systemd", "launchd", "none"):
        raise FleetError(f"coord_scheduler must be auto, systemd, launchd or none, not {choice!r}")
    if choice != "auto":
        return choice
    if kernel == "Darwin":
        return "launchd"
    if kernel == "Linux":
        return "systemd"
    return "none"


def launchctl_steps(
    uid: int, job: Job, plist: str, *, present: bool, loaded: bool, reload: bool
) -> list[list[str]]:
    """The launchctl commands that bring one agent where it should be.

    ``bootstrap`` loads an agent into the user's GUI session; ``bootout`` unloads it.
    A changed plist (or runtime) is only read again after a bootout and a bootstrap.
    """
    domain = f"gui/{uid}"
    target = f"{domain}/{job.label}"
    if not present:
        return [["launchctl", "bootout", target]] if loaded else []
    if not loaded:
        return [["launchctl", "bootstrap", domain, plist]]
    if reload:
        return [["launchctl", "bootout", target], ["launchctl", "bootstrap", domain, plist]]
    return []


# -- one host's plan -----------------------------------------------------------------


def home_path(home: str, path: str) -> str:
    """An absolute path on the host: ``~/x`` and ``x`` are below the home."""
    if path == "~":
        return home
    if path.startswith("~/"):
        path = path[2:]
    if path.startswith("/"):
        return path.rstrip("/") or "/"
    return f"{home.rstrip('/')}/{path.rstrip('/')}"


def flag(value: Any) -> bool:
    """A yes/no setting from the fleet file, group data or ``--data`` (a string there)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off", "none"):
        return False
    raise FleetError(f"expected true or false, not {value!r}")


def one_line(key: str, value: Any) -> str:
    text = str(value)
    if "\n" in text or "\r" in text:
        raise FleetError(f"{key} must fit on one line, not {text!r}")
    return text


@dataclass(frozen=True)
class HubAccess:
    """How a Yoda reaches the hub: one Host alias in ~/.ssh/coord.conf."""

    alias: str
    hostname: str
    port: int
    user: Optional[str]
    identity_file: Optional[str]
    host_key: Optional[str]  # "ssh-ed25519 AAAA...": pinned in a known_hosts file of ours


@dataclass
class Plan:
    """Everything the deploy puts on (or removes from) one host, as absolute paths."""

    present: bool
    purge: bool
    is_yoda: bool
    is_hub: bool
    home: str
    version: str
    install_base: str
    version_dir: str
    current_link: str
    bin_dir: str
    commands: list[str]
    config_path: str
    settings: list[tuple[str, str]]
    rc_files: list[str]
    rc_text: str
    ssh_dir: str
    ssh_config: str
    ssh_conf: str
    mux_dir: str
    known_hosts: str
    hub_access: Optional[HubAccess]
    control_persist: str
    state_clone: str
    remote: str
    bare_repository: Optional[str]
    branch: str
    hub_dir: str
    poke_log: str
    heartbeats: str
    local_state: str
    log_dir: str
    scheduler: str
    unit_dir: str
    agents_dir: str
    agent_log_dir: str
    jobs: list[Job] = field(default_factory=list)
    hooks: bool = False
    use_sudo: bool = False
    user: str = ""
    # Set by the runtime task when this run installs a new runtime, so that the long
    # running job restarts on it.
    runtime_changed: bool = False

    def bin_link(self, name: str) -> str:
        return f"{self.bin_dir}/{name}"

    def command_target(self, name: str) -> str:
        return f"{self.current_link}/runtime/bin/{name}"

    def agent_plist(self, job: Job) -> str:
        return f"{self.agents_dir}/{job.label}.plist"

    def agent_log(self, job: Job) -> str:
        return f"{self.agent_log_dir}/{job.log_name}"

    def unit_file(self, unit: str) -> str:
        return f"{self.unit_dir}/{unit}"

    def unit_path(self, path: str) -> str:
        """A path as a user unit writes it: %h for the home folder."""
        return "%h" + path[len(self.home) :] if path.startswith(self.home + "/") else path

    def service_context(self, job: Job) -> dict[str, Any]:
        """What templates/coord-job.service.j2 needs for one job."""
        argv = [self.unit_path(self.bin_link(job.argv[0])), *job.argv[1:]]
        return {
            "managed": MANAGED,
            "job": job,
            "exec_start": " ".join(argv),
            "log": self.unit_path(f"{self.log_dir}/{job.log_name}"),
        }

    def agent_context(self, job: Job) -> dict[str, Any]:
        """What templates/coord-job.plist.j2 needs for one job."""
        return {
            "managed": MANAGED,
            "job": job,
            "argv": [self.bin_link(job.argv[0]), *job.argv[1:]],
            "path": f"{self.bin_dir}:{AGENT_PATH}",
            "log": self.agent_log(job),
        }


def make_plan(
    data: Mapping[str, Any],
    *,
    home: str,
    kernel: str,
    login_shell: str = "",
    existing_rc: tuple[str, ...] = (),
    user: str = "",
    root: Path = ROOT,
) -> Plan:
    """Turn one host's data (group_data and the fleet) and facts into paths and settings.

    ``existing_rc`` names the rc files (``.bashrc``, ``.zshrc``) already in the home.
    """

    def get(key: str, default: Any = None) -> Any:
        value = data.get(key, default)
        return default if value is None else value

    state = str(get("coord_state", "present"))
    if state not in ("present", "absent"):
        raise FleetError(f"coord_state must be present or absent, not {state!r}")
    is_yoda = flag(get("coord_yoda", False))
    is_hub = flag(get("coord_is_hub", False))

    version = runtime_version(root)
    install_base = home_path(home, str(get("coord_install_dir", f"~/.local/share/{PRODUCT}")))
    version_dir = f"{install_base}/{version}"
    bin_dir = home_path(home, str(get("coord_bin_dir", "~/.local/bin")))

    yoda_id = str(get("coord_yoda_id", ""))
    if is_yoda and not ID_PATTERN.fullmatch(yoda_id):
        raise FleetError(
            f"coord_yoda_id {yoda_id!r} is not allowed: up to 64 letters, digits, '.', '_'"
            " and '-', not starting with '.' or '-'"
        )

    hub_access = _hub_access(get("coord_hub_access")) if not is_hub else None
    if is_yoda and not is_hub and hub_access is None:
        raise FleetError("a Yoda that is not the hub needs coord_hub_access (the hub's ssh alias)")
    hub_value = "local" if is_hub else (hub_access.alias if hub_access else "local")

    hub_dir_setting = one_line("coord_hub_dir", get("coord_hub_dir", "~/coord"))
    hub_dir = home_path(home, hub_dir_setting)
    bare = get("coord_bare_repository", "")
    bare_repository = home_path(home, str(bare)) if bare else None
    remote = str(get("coord_remote", "")) or (bare_repository or "")
    if is_yoda and not remote:
        raise FleetError(
            "coord_remote is empty: give the coordination repository's URL, or"
            " coord_bare_repository to keep one on this host"
        )
    remote = remote if not remote.startswith("~") else home_path(home, remote)

    state_clone = home_path(home, str(get("coord_state_clone", "~/.local/share/coord/state")))
    branch = one_line("coord_branch", get("coord_branch", "main"))
    local_state = home_path(home, str(get("coord_local_state", "~/.local/state/coord")))

    settings: list[tuple[str, str]] = []
    if is_yoda:
        settings.append(("yoda_id", yoda_id))
    settings += [
        ("state", state_clone),
        ("branch", branch),
        ("dir", one_line("coord_dir", get("coord_dir", "coordination"))),
        ("hub", hub_value),
        ("hub_dir", hub_dir if is_hub else hub_dir_setting),
        ("ssh", one_line("coord_ssh_command", get("coord_ssh_command", "ssh"))),
        ("live_seconds", one_line("coord_live_seconds", get("coord_live_seconds", 90))),
        ("stale_seconds", one_line("coord_stale_seconds", get("coord_stale_seconds", 180))),
    ]
    settings = [(key, value) for key, value in settings if value != ""]

    shell = os.path.basename(login_shell)
    rc_names = [name for kind, name in RC_FILES.items() if kind == shell or name in existing_rc]
    rc_lines = [f"{RC_BEGIN} managed by parallelism's deploy (pyinfra); its uninstall removes it"]
    if is_yoda:
        rc_lines.append(f"export YODA_ID={shlex.quote(yoda_id)}")
    rel_bin = bin_dir[len(home) + 1 :] if bin_dir.startswith(home + "/") else None
    bin_word = f"$HOME/{rel_bin}" if rel_bin else bin_dir
    rc_lines += [
        f'case ":$PATH:" in *":{bin_word}:"*) ;; *) PATH="{bin_word}:$PATH"; export PATH ;; esac',
        RC_END,
    ]

    interval = int(get("coord_interval_seconds", 60))
    scheduler = scheduler_for(kernel, str(get("coord_scheduler", "auto")))
    ssh_dir = f"{home}/.ssh"
    return Plan(
        present=state == "present",
        purge=flag(get("coord_purge", False)),
        is_yoda=is_yoda,
        is_hub=is_hub,
        home=home,
        version=version,
        install_base=install_base,
        version_dir=version_dir,
        current_link=f"{install_base}/current",
        bin_dir=bin_dir,
        commands=runtime_commands(root),
        config_path=f"{home}/.config/coord/config",
        settings=settings,
        rc_files=[f"{home}/{name}" for name in rc_names],
        rc_text="\n".join(rc_lines) + "\n",
        ssh_dir=ssh_dir,
        ssh_config=f"{ssh_dir}/config",
        ssh_conf=f"{ssh_dir}/coord.conf",
        # Short on purpose: a socket path (plus the 17 characters ssh adds while it
        # sets one up) must fit in 104 bytes on macOS, 108 on Linux.
        mux_dir=f"{ssh_dir}/coord-mux",
        known_hosts=f"{ssh_dir}/coord_known_hosts",
        hub_access=hub_access,
        control_persist=one_line(
            "coord_ssh_control_persist", get("coord_ssh_control_persist", "10m")
        ),
        state_clone=state_clone,
        remote=remote,
        bare_repository=bare_repository,
        branch=branch,
        hub_dir=hub_dir,
        poke_log=f"{hub_dir}/poke.log",
        heartbeats=f"{hub_dir}/heartbeats",
        local_state=local_state,
        log_dir=f"{local_state}/log",
        scheduler=scheduler,
        unit_dir=f"{home}/.config/systemd/user",
        agents_dir=f"{home}/Library/LaunchAgents",
        agent_log_dir=f"{home}/Library/Logs/coord",
        jobs=jobs(interval) if is_yoda else [],
        hooks=is_yoda and flag(get("coord_hooks", False)),
        use_sudo=flag(get("coord_use_sudo", False)),
        user=user,
    )


def _hub_access(value: Any) -> Optional[HubAccess]:
    if not value:
        return None
    if isinstance(value, HubAccess):
        return value
    if not isinstance(value, Mapping):
        raise FleetError(f"coord_hub_access must be a table, not {value!r}")
    alias = str(value.get("alias", ""))
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", alias):
        raise FleetError(f"the hub's ssh alias {alias!r} is not a plain host name")
    for key in ("hostname", "user", "identity_file", "host_key"):
        if value.get(key) is not None:
            one_line(f"hub {key}", value[key])
    return HubAccess(
        alias=alias,
        hostname=str(value.get("hostname") or alias),
        port=int(value.get("port") or 22),
        user=value.get("user") or None,
        identity_file=value.get("identity_file") or None,
        host_key=value.get("host_key") or None,
    )
