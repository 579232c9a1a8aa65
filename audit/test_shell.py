"""YODA_ID and PATH: one marked block in each rc file the deploy chose, and it works."""

from __future__ import annotations

import shlex

from tasks.helpers import RC_BEGIN


def test_rc_files_hold_the_block_exactly_once(node):
    plan = node.plan
    assert plan.rc_files, "no rc file chosen: the login shell is neither bash nor zsh"

    for path in plan.rc_files:
        text = node.host.file(path).content_string
        begins = [line for line in text.splitlines() if line.startswith(RC_BEGIN)]

        assert len(begins) == 1, f"{path} has {len(begins)} coord blocks"
        assert plan.rc_text in text, f"{path} has an outdated coord block"


def test_shell_finds_coord_and_knows_the_yoda(node):
    plan = node.plan
    settings = dict(plan.settings)
    for path in plan.rc_files:
        shell = "zsh" if path.endswith(".zshrc") else "bash"
        if node.host.run(f"command -v {shell}").rc != 0:
            continue
        script = (
            f". {shlex.quote(path)} >/dev/null 2>&1;"
            ' printf "%s\\n%s" "$YODA_ID" "$(command -v coord-claim)"'
        )

        yoda_id, program = node.run(f"{shell} -c {shlex.quote(script)}").split("\n")

        assert yoda_id == settings.get("yoda_id", "")
        assert program == plan.bin_link("coord-claim")
