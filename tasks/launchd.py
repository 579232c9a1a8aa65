"""Included from deploy.py on macOS: the background jobs as launchd agents.

coord-sync and coord-heartbeat start every minute (StartInterval); coord-watch --mirror
is kept alive. The agents load into the user's GUI session with `launchctl bootstrap
gui/<uid>` and leave it with `launchctl bootout`; their output goes to ~/Library/Logs/coord.
"""

from pyinfra import host
from pyinfra.operations import files

from tasks import operations
from tasks.facts import Uid
from tasks.helpers import TEMPLATES, jinja_options, jobs
from tasks.hostplan import current

plan = current()
uid = host.get_fact(Uid)

if plan.present and plan.jobs:
    files.directory(
        name="Create the coord log folder",
        path=plan.agent_log_dir,
    )

    for job in host.loop(plan.jobs):
        plist = files.template(
            name=f"Write the {job.name} agent",
            src=str(TEMPLATES / "coord-job.plist.j2"),
            dest=plan.agent_plist(job),
            mode="644",
            jinja_env_kwargs=jinja_options(),
            **plan.agent_context(job),
        )

        operations.launch_agent(
            name=f"Load the {job.name} agent",
            job=job,
            plist=plan.agent_plist(job),
            uid=uid,
            # A loaded agent reads a new plist, or a kept-alive one a new runtime, only
            # when it is loaded again.
            reload=plist.will_change or (not job.every and plan.runtime_changed),
        )

else:
    # Uninstall, or a host that is no longer a Yoda: its agents go.
    for job in host.loop(jobs()):
        operations.launch_agent(
            name=f"Unload the {job.name} agent",
            job=job,
            plist=plan.agent_plist(job),
            uid=uid,
            present=False,
        )

        files.file(
            name=f"Remove the {job.name} agent",
            path=plan.agent_plist(job),
            present=False,
        )

    files.directory(
        name="Remove the coord logs",
        path=plan.agent_log_dir,
        present=False,
    )
