"""The background jobs run, and this Yoda's heartbeats reach the hub."""

from __future__ import annotations

import json
import shlex


def test_job_is_scheduled_and_running(yoda, job):
    plan = yoda.plan
    assert plan.scheduler in ("systemd", "launchd"), f"no scheduler on {plan.scheduler!r}"

    if plan.scheduler == "systemd":
        unit = shlex.quote(job.started_unit)
        enabled = yoda.host.run(f"systemctl --user is-enabled {unit}").stdout.strip()
        active = yoda.host.run(f"systemctl --user is-active {unit}").stdout.strip()

        assert (enabled, active) == ("enabled", "active")
    else:
        target = shlex.quote(f"gui/{yoda.run('id -u').strip()}/{job.label}")
        result = yoda.host.run(f"launchctl print {target}")

        assert result.rc == 0, f"{job.label} is not loaded: {result.stderr.strip()}"


def test_heartbeat_is_fresh(yoda):
    plan = yoda.plan
    yoda_id = dict(plan.settings)["yoda_id"]

    report = json.loads(yoda.run(f"{shlex.quote(plan.bin_link('coord-who'))} --json"))

    mine = [entry for entry in report["yodas"] if entry["yoda"] == yoda_id]
    assert mine, f"the hub has no heartbeat of {yoda_id}"
    assert mine[0]["state"] == "LIVE", f"last heartbeat {mine[0]['age_seconds']:.0f} s ago"
