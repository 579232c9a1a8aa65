"""Included from deploy.py: the Claude Code hooks, registered through `coord hooks`.

The runtime's own command does the work: it merges into ~/.claude/settings.json,
keeps every other key and hook, never registers twice, and refuses to touch a file
that is not valid JSON. The deploy only asks `coord hooks status --json` whether
anything needs doing, so a second run changes nothing.
"""

from tasks import operations
from tasks.hostplan import current

plan = current()
program = f"{plan.current_link}/runtime/bin/coord"

if plan.present and plan.is_yoda:
    if plan.hooks:
        operations.hooks_registration(
            name="Register the Claude Code hooks",
            program=program,
        )

    else:
        operations.hooks_registration(
            name="Remove the Claude Code hooks (coord_hooks is off)",
            program=program,
            present=False,
        )

else:
    # Uninstall, or a host that is no longer a Yoda.
    operations.hooks_registration(
        name="Remove the Claude Code hooks",
        program=program,
        present=False,
    )
