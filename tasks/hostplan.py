"""The plan for the host being deployed: its data and a few facts that do not change
during a run (home, kernel, login shell), turned into paths by helpers.make_plan.
"""

from __future__ import annotations

from functools import lru_cache

from pyinfra import host
from pyinfra.facts.server import Home, Kernel, User

from tasks.facts import ExistingFiles, LoginShell
from tasks.helpers import RC_FILES, Archive, Plan, make_plan, runtime_archive

_plans: dict[str, Plan] = {}


@lru_cache(maxsize=1)
def archive() -> Archive:
    """The runtime archive, packed once per run for every host."""
    return runtime_archive()


def current() -> Plan:
    """The plan of pyinfra's current host, worked out once per host and run."""
    if host.name not in _plans:
        home = host.get_fact(Home)
        if not home or not home.startswith("/"):
            raise RuntimeError(f"{host.name}: cannot tell the home folder (got {home!r})")
        home = home.rstrip("/")
        rc_paths = [f"{home}/{name}" for name in RC_FILES.values()]
        existing = host.get_fact(ExistingFiles, paths=rc_paths)
        _plans[host.name] = make_plan(
            host.data.dict(),
            home=home,
            kernel=host.get_fact(Kernel),
            login_shell=host.get_fact(LoginShell),
            existing_rc=tuple(path.rsplit("/", 1)[1] for path in existing),
            user=host.get_fact(User),
        )
    return _plans[host.name]
