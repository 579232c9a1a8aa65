"""Included from deploy.py: the runtime, one folder per version, and its commands on PATH."""

from pyinfra.operations import files

from tasks import operations
from tasks.hostplan import archive, current

plan = current()
commands = {name: plan.command_target(name) for name in plan.commands}

if plan.present:
    installed = operations.unpacked_tree(
        name=f"Install the coord runtime {plan.version}",
        archive=archive(),
        dest=plan.version_dir,
    )
    plan.runtime_changed = installed.will_change

    files.link(
        name=f"Point the current runtime at {plan.version}",
        path=plan.current_link,
        target=plan.version,
    )

    operations.other_folders_removed(
        name="Remove other runtime versions",
        path=plan.install_base,
        keep=plan.version,
    )

    operations.command_links(
        name="Link the coord commands into the bin folder",
        bin_dir=plan.bin_dir,
        targets=commands,
        owned_prefix=plan.install_base + "/",
    )

else:
    operations.command_links(
        name="Remove the coord command links",
        bin_dir=plan.bin_dir,
        targets=commands,
        owned_prefix=plan.install_base + "/",
        present=False,
    )

    files.directory(
        name="Remove the coord runtime",
        path=plan.install_base,
        present=False,
    )
