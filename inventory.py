"""The fleet, for pyinfra: every Yoda and the hub.

It reads the fleet file named by COORD_FLEET, by default fleet.toml beside this file
(fleet.example.toml explains every key). Without a fleet file the fleet is this machine
alone, reached through pyinfra's @local connector: one Yoda that is its own hub
(COORD_HUB=local), with a bare repository in ~/.local/share/coord/remote.git as the
coordination remote.

Groups: ``yodas`` (hosts where Yodas run) and ``hub`` (the one host holding the hub's
folder); a host can be in both. Each host's data has the pyinfra connection settings
(ssh_*) and coord's own settings as ``coord_<key>``; group_data/ holds the defaults.
"""

import os
import re
import socket
from pathlib import Path

try:
    import tomllib as _toml
except ModuleNotFoundError:  # Python before 3.11
    _toml = None

_HERE = Path(__file__).resolve().parent

# Keys a host (or [fleet], for every host) may set; each becomes coord_<key>.
_HOST_KEYS = {
    "yoda": bool,
    "yoda_id": str,
    "remote": str,
    "branch": str,
    "dir": str,
    "hub_dir": str,
    "bare_repository": str,
    "state_clone": str,
    "hooks": bool,
    "scheduler": str,
    "ssh_command": str,
    "live_seconds": (int, float),
    "stale_seconds": (int, float),
    "interval_seconds": int,
    "use_sudo": bool,
    "install_dir": str,
    "bin_dir": str,
    "local_state": str,
    "ssh_control_persist": str,
    "hub_identity_file": str,
}
# pyinfra's own connection settings, passed through as they are.
_CONNECTION_KEYS = {
    "ssh_hostname": str,
    "ssh_port": int,
    "ssh_user": str,
    "ssh_key": str,
    "ssh_key_password": str,
    "ssh_known_hosts_file": str,
    "ssh_strict_host_key_checking": str,
    "ssh_config_file": str,
    "ssh_forward_agent": bool,
    "ssh_connect_retries": int,
    "_sudo": bool,
    "_sudo_user": str,
}
# Only in [fleet]: which host is the hub, and how the Yodas reach it over ssh when
# that differs from how the deploy machine does.
_FLEET_KEYS = {
    "hub": str,
    "hub_alias": str,
    "hub_hostname": str,
    "hub_port": int,
    "hub_user": str,
    "hub_host_key": str,
}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_LOCAL_REMOTE = "~/.local/share/coord/remote.git"


class FleetFileError(Exception):
    """The fleet file cannot be used; the message says where and why."""


def _fleet_path():
    named = os.environ.get("COORD_FLEET")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise FleetFileError(f"COORD_FLEET names {path}, which is not a file")
        return path
    default = _HERE / "fleet.toml"
    return default if default.is_file() else None


def _checked(where, table, allowed):
    if not isinstance(table, dict):
        raise FleetFileError(f"{where} must be a table")
    for key, value in table.items():
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise FleetFileError(f"{where}: unknown key {key!r} (known keys: {known})")
        kind = allowed[key]
        fits = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not fits:
            raise FleetFileError(f"{where}: {key} = {value!r} has the wrong type")
    return table


def _host_data(settings):
    return {
        key if key in _CONNECTION_KEYS else f"coord_{key}": value for key, value in settings.items()
    }


def _local_fleet():
    """This machine alone: one Yoda, its own hub, a bare repository as the remote."""
    name = socket.gethostname().split(".")[0]
    yoda_id = name if _NAME.fullmatch(name) and len(name) <= 64 else "local"
    data = {
        "coord_yoda": True,
        "coord_is_hub": True,
        "coord_yoda_id": yoda_id,
        "coord_bare_repository": _LOCAL_REMOTE,
    }
    host = ("@local", data)
    return [host], [host]


def _read_fleet(path):
    if _toml is None:
        raise FleetFileError(f"reading {path} needs Python 3.11 or newer (tomllib)")
    try:
        with open(path, "rb") as handle:
            document = _toml.load(handle)
    except (OSError, ValueError) as error:
        raise FleetFileError(f"{path}: {error}") from None

    unknown = sorted(set(document) - {"fleet", "hosts"})
    if unknown:
        raise FleetFileError(f"{path}: unknown table {unknown[0]!r} (use [fleet] and [hosts.NAME])")
    every_key = {**_HOST_KEYS, **_CONNECTION_KEYS, **_FLEET_KEYS}
    fleet = _checked(f"{path} [fleet]", document.get("fleet", {}), every_key)
    hosts = document.get("hosts", {})
    if not isinstance(hosts, dict) or not hosts:
        raise FleetFileError(f"{path}: no hosts; add a [hosts.NAME] table for each machine")

    hub_name = fleet.get("hub", "")
    if hub_name not in hosts:
        raise FleetFileError(
            f"{path}: [fleet] hub = {hub_name!r} must name one of the hosts ({', '.join(hosts)})"
        )
    defaults = {key: value for key, value in fleet.items() if key not in _FLEET_KEYS}

    settings = {}
    for name, table in hosts.items():
        if not _NAME.fullmatch(name):
            raise FleetFileError(f"{path}: host name {name!r} is not a plain host name")
        own = _checked(f"{path} [hosts.{name}]", table, {**_HOST_KEYS, **_CONNECTION_KEYS})
        merged = dict(defaults)
        merged.update(own)
        if "bare_repository" in own and "remote" not in own:
            # The host that keeps the repository clones it from its own disk.
            merged["remote"] = own["bare_repository"]
        merged.setdefault("yoda", True)
        if merged["yoda"]:
            merged.setdefault("yoda_id", name)
            if not _NAME.fullmatch(merged["yoda_id"]) or len(merged["yoda_id"]) > 64:
                raise FleetFileError(
                    f"{path} [hosts.{name}]: yoda_id {merged['yoda_id']!r} is not allowed:"
                    " up to 64 letters, digits, '.', '_' and '-', not starting with '.' or '-'"
                )
        settings[name] = merged

    hub = settings[hub_name]
    access = {
        "alias": fleet.get("hub_alias", hub_name),
        "hostname": fleet.get("hub_hostname") or hub.get("ssh_hostname") or hub_name,
        "port": fleet.get("hub_port") or hub.get("ssh_port") or 22,
        "user": fleet.get("hub_user") or hub.get("ssh_user"),
        "host_key": fleet.get("hub_host_key"),
    }

    yodas, hub_group = [], []
    for name, merged in settings.items():
        data = _host_data(merged)
        data["coord_is_hub"] = name == hub_name
        if name != hub_name:
            data["coord_hub_access"] = dict(access, identity_file=merged.get("hub_identity_file"))
        if merged["yoda"]:
            yodas.append((name, data))
        if name == hub_name:
            hub_group.append((name, data))
    return yodas, hub_group


try:
    _path = _fleet_path()
    yodas, hub = _read_fleet(_path) if _path else _local_fleet()
except FleetFileError as _error:
    # One line, as every coord command reports a problem, rather than a traceback.
    raise SystemExit(f"inventory.py: {_error}") from None
