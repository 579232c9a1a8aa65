"""Included from deploy.py: the hub's folder, where every Yoda's pokes and heartbeats land.

An uninstall keeps the hub's files (the pokes are the team's history) unless it is a
purge (--data coord_purge=true).
"""

from pyinfra.operations import files

from tasks.hostplan import current

plan = current()

if plan.is_hub and plan.present:
    files.directory(
        name="Create the hub folder",
        path=plan.hub_dir,
        mode="700",
    )

    files.directory(
        name="Create the hub's heartbeats folder",
        path=plan.heartbeats,
        mode="700",
    )

    files.file(
        name="Create the hub's poke log",
        path=plan.poke_log,
        mode="600",
    )

elif plan.is_hub and plan.purge:
    files.directory(
        name="Remove the hub folder",
        path=plan.hub_dir,
        present=False,
    )
