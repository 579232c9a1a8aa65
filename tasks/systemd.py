"""Included from deploy.py on Linux: the background jobs as systemd user units.

coord-sync and coord-heartbeat run from timers every minute; coord-watch --mirror is a
service restarted on failure. Their output is appended to files in the log folder.
Without a running user manager (no systemd, or no session for the user) the unit files
are installed and the deploy says that they could not be started.
"""

from pyinfra import host, logger
from pyinfra.operations import files, systemd

from tasks import operations
from tasks.facts import UserManager
from tasks.helpers import MANAGER_READY, TEMPLATES, jinja_options, jobs
from tasks.hostplan import current

plan = current()
manager = host.get_fact(UserManager)
ready = manager["state"] in MANAGER_READY

if not ready and plan.is_yoda:
    logger.warning(
        f"{host.name}: no systemd user manager runs for {plan.user or 'this user'}"
        f" (systemctl --user says {manager['state']!r}"
        f"{'' if manager['booted'] else ', and /run/systemd/system is missing'}):"
        " the coord units are "
        + (
            "installed but not started; start them with `systemctl --user enable --now"
            " coord-sync.timer coord-heartbeat.timer coord-watch.service` once one runs"
            if plan.present
            else "removed without being stopped"
        )
    )

if plan.present and plan.jobs:
    files.directory(
        name="Create the coord log folder",
        path=plan.log_dir,
    )

    written = {}
    for job in host.loop(plan.jobs):
        written[job.name] = [
            files.template(
                name=f"Write the {job.name} service",
                src=str(TEMPLATES / "coord-job.service.j2"),
                dest=plan.unit_file(f"{job.name}.service"),
                mode="644",
                jinja_env_kwargs=jinja_options(),
                **plan.service_context(job),
            )
        ]
        if job.every:
            written[job.name].append(
                files.template(
                    name=f"Write the {job.name} timer",
                    src=str(TEMPLATES / "coord-job.timer.j2"),
                    dest=plan.unit_file(f"{job.name}.timer"),
                    mode="644",
                    jinja_env_kwargs=jinja_options(),
                    **plan.service_context(job),
                )
            )

    if ready:
        changed = {name: any(op.will_change for op in ops) for name, ops in written.items()}
        if any(changed.values()):
            systemd.daemon_reload(
                name="Reload the systemd user manager",
                user_mode=True,
            )

        for job in host.loop(plan.jobs):
            systemd.service(
                name=f"Enable and start {job.started_unit}",
                service=job.started_unit,
                running=True,
                enabled=True,
                # A service that keeps running must restart to use a new runtime or unit.
                restarted=not job.every and (plan.runtime_changed or changed[job.name]),
                user_mode=True,
            )

        if plan.use_sudo:
            operations.lingering(
                name="Keep the user manager running without a login",
                user=plan.user,
                _sudo=True,
            )

else:
    # Uninstall, or a host that is no longer a Yoda: its jobs go.
    every_job = jobs()
    if ready:
        for job in host.loop(every_job):
            systemd.service(
                name=f"Stop and disable {job.started_unit}",
                service=job.started_unit,
                running=False,
                enabled=False,
                user_mode=True,
            )
            if job.every:
                systemd.service(
                    name=f"Stop {job.name}.service",
                    service=f"{job.name}.service",
                    running=False,
                    user_mode=True,
                )

    removed = []
    for job in host.loop(every_job):
        for unit in host.loop(job.units):
            removed.append(
                files.file(
                    name=f"Remove the {unit} unit",
                    path=plan.unit_file(unit),
                    present=False,
                )
            )

    if ready and any(op.will_change for op in removed):
        systemd.daemon_reload(
            name="Reload the systemd user manager",
            user_mode=True,
        )
