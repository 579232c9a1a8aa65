"""Included from deploy.py: YODA_ID and PATH in the shells' rc files, in one marked block.

The block goes into the rc file of the login shell, and into any other rc file that is
there already; it is added at the top, so it holds for non-interactive shells too (ssh
commands) before the usual early return of a .bashrc.
"""

from tasks import operations
from tasks.helpers import RC_BEGIN, RC_END
from tasks.hostplan import current

plan = current()
bashrc = f"{plan.home}/.bashrc"
zshrc = f"{plan.home}/.zshrc"

if plan.present:
    if bashrc in plan.rc_files:
        operations.managed_text(
            name="Set YODA_ID and PATH in ~/.bashrc",
            path=bashrc,
            text=plan.rc_text,
            start=RC_BEGIN,
            stop=RC_END,
        )

    if zshrc in plan.rc_files:
        operations.managed_text(
            name="Set YODA_ID and PATH in ~/.zshrc",
            path=zshrc,
            text=plan.rc_text,
            start=RC_BEGIN,
            stop=RC_END,
        )

else:
    operations.managed_text(
        name="Remove the coord block from ~/.bashrc",
        path=bashrc,
        text="",
        start=RC_BEGIN,
        stop=RC_END,
        present=False,
    )

    operations.managed_text(
        name="Remove the coord block from ~/.zshrc",
        path=zshrc,
        text="",
        start=RC_BEGIN,
        stop=RC_END,
        present=False,
    )
