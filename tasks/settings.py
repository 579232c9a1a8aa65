"""Included from deploy.py: ~/.config/coord/config, the settings every coord command reads."""

import posixpath

from pyinfra.operations import files

from tasks import operations
from tasks.helpers import MANAGED, TEMPLATES, jinja_options
from tasks.hostplan import current

plan = current()

if plan.present:
    files.template(
        name="Write the coord settings",
        src=str(TEMPLATES / "coord-config.j2"),
        dest=plan.config_path,
        mode="644",
        jinja_env_kwargs=jinja_options(),
        managed=MANAGED,
        settings=plan.settings,
    )

else:
    files.file(
        name="Remove the coord settings",
        path=plan.config_path,
        present=False,
    )

    operations.empty_folder_removed(
        name="Remove the coord settings folder if empty",
        path=posixpath.dirname(plan.config_path),
    )

    files.directory(
        name="Remove coord's local state (the poke mirror and the logs)",
        path=plan.local_state,
        present=False,
    )
