"""Included from deploy.py: the coordination repository and this Yoda's clone of it.

A host with coord_bare_repository keeps a bare repository that serves as the remote
(the default when the fleet names none). The clone is made once; from then on
coord-sync keeps it in step, so the deploy never pulls. An uninstall keeps both unless
it is a purge.
"""

import posixpath

from pyinfra.operations import files

from tasks import operations
from tasks.hostplan import current

plan = current()

if plan.present:
    if plan.bare_repository:
        operations.bare_repository(
            name="Create the coordination repository",
            path=plan.bare_repository,
            branch=plan.branch,
        )

    if plan.is_yoda:
        operations.clone(
            name="Clone the coordination repository",
            src=plan.remote,
            dest=plan.state_clone,
        )

elif plan.purge:
    files.directory(
        name="Remove the state clone",
        path=plan.state_clone,
        present=False,
    )

    if plan.bare_repository:
        operations.bare_repository(
            name="Remove the coordination repository",
            path=plan.bare_repository,
            branch=plan.branch,
            present=False,
        )

    # The default places share ~/.local/share/coord, which is ours once they are gone.
    data_folder = posixpath.dirname(plan.state_clone)
    if posixpath.basename(data_folder) == "coord":
        operations.empty_folder_removed(
            name="Remove the coord data folder if empty",
            path=data_folder,
        )
