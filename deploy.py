"""Set up coord on every host of the inventory, or take it away again.

    pyinfra -y inventory.py deploy.py                  install or update every host
    pyinfra inventory.py deploy.py --dry               show the plan, change nothing
    pyinfra -y inventory.py deploy.py --limit HOST --data coord_state=absent
                                                       uninstall from HOST
    ... --data coord_state=absent --data coord_purge=true
                                                       also delete the state clone, the
                                                       hub's folder and a bare repository

Each host gets the runtime, its settings, PATH and YODA_ID in the shell, the hub's ssh
alias, the state clone, the background jobs (systemd or launchd) and the Claude Code
hooks; the hub gets its folder. An uninstall goes through the same tasks backwards.
"""

import sys
from pathlib import Path

from pyinfra import host, local

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    # So that pyinfra can run from any folder: the tasks import each other as tasks.*.
    sys.path.insert(0, str(HERE))

from tasks.helpers import FleetError  # noqa: E402
from tasks.hostplan import current  # noqa: E402

TASKS = HERE / "tasks"
try:
    plan = current()
except FleetError as error:
    # A mistake in the fleet file or --data: one line that names the host.
    raise SystemExit(f"deploy.py: {host.name}: {error}") from None
scheduler = {"systemd": "systemd.py", "launchd": "launchd.py"}.get(plan.scheduler)

# Each include sits on its own line: pyinfra orders operations by the lines that
# called them, so one include in a loop would mix up operations of different files.
if plan.present:
    local.include(str(TASKS / "runtime.py"))
    local.include(str(TASKS / "settings.py"))
    local.include(str(TASKS / "shell.py"))
    local.include(str(TASKS / "ssh.py"))
    local.include(str(TASKS / "hub.py"))
    local.include(str(TASKS / "state_clone.py"))
    if scheduler:
        local.include(str(TASKS / scheduler))
    local.include(str(TASKS / "hooks.py"))

else:
    local.include(str(TASKS / "hooks.py"))
    if scheduler:
        local.include(str(TASKS / scheduler))
    local.include(str(TASKS / "state_clone.py"))
    local.include(str(TASKS / "hub.py"))
    local.include(str(TASKS / "ssh.py"))
    local.include(str(TASKS / "shell.py"))
    local.include(str(TASKS / "settings.py"))
    local.include(str(TASKS / "runtime.py"))
