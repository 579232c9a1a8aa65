"""Included from deploy.py: how a Yoda reaches the hub over ssh.

The hub's alias, with a shared connection (ControlMaster), lives in ~/.ssh/coord.conf;
~/.ssh/config includes it through one line at its top, where ssh honours an Include
for every host. Nothing else in the user's ssh config changes.
"""

from io import StringIO

from pyinfra.operations import files

from tasks import operations
from tasks.helpers import MANAGED, SSH_BLOCK_START, SSH_INCLUDE, TEMPLATES, jinja_options
from tasks.hostplan import current

plan = current()
hub = plan.hub_access

if plan.present and hub:
    files.directory(
        name="Create the ssh folder",
        path=plan.ssh_dir,
        mode="700",
    )

    files.directory(
        name="Create the folder for shared hub connections",
        path=plan.mux_dir,
        mode="700",
    )

    if hub.host_key:
        files.put(
            name="Pin the hub's host key",
            src=StringIO(f"{hub.alias} {hub.host_key}\n"),
            dest=plan.known_hosts,
            mode="600",
        )

    files.template(
        name="Write the ssh settings for the hub",
        src=str(TEMPLATES / "coord-ssh.conf.j2"),
        dest=plan.ssh_conf,
        mode="600",
        jinja_env_kwargs=jinja_options(),
        managed=MANAGED,
        hub=hub,
        known_hosts=plan.known_hosts,
        mux_dir=plan.mux_dir,
        control_persist=plan.control_persist,
    )

    operations.managed_text(
        name="Include the hub's ssh settings from ~/.ssh/config",
        path=plan.ssh_config,
        text=SSH_INCLUDE + "\n",
        start=SSH_INCLUDE,
        stop=SSH_INCLUDE,
        mode="600",
        before=SSH_BLOCK_START,
    )

elif not plan.present:
    operations.managed_text(
        name="Remove the coord include from ~/.ssh/config",
        path=plan.ssh_config,
        text="",
        start=SSH_INCLUDE,
        stop=SSH_INCLUDE,
        present=False,
    )

    files.file(
        name="Remove the ssh settings for the hub",
        path=plan.ssh_conf,
        present=False,
    )

    files.file(
        name="Remove the hub's pinned host key",
        path=plan.known_hosts,
        present=False,
    )

    operations.connection_folder_removed(
        name="Close the shared hub connections and remove their folder",
        path=plan.mux_dir,
    )
