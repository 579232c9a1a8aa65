"""coord hooks: register coord's Claude Code hooks in settings.json, or take them out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from coord import claude
from coord.cli import common
from coord.config import Config
from coord.errors import CoordError

NAME = "hooks"

EPILOG = """\
The hooks registered are those listed in table.json of the hooks folder beside
this runtime (through the 'current' link of a deployed tree, so upgrades keep
the same paths). Every other key and hook in the settings file is kept; coord's
own entries (programs named coord_*.py in a folder named hooks) are never there
twice. A settings file that is not valid JSON is left untouched.

status --json prints {"registered": bool, "present": bool, "settings": PATH,
"hooks_dir": DIR, "hooks": [...], "stale": [...], "guard": MODE}; registered
means exactly the table's hooks are there, present that any coord hook is.

exit codes: 0 done (also when nothing needed changing), 1 error (such as a
settings file that is not valid JSON), 2 usage error"""


def build_parser() -> argparse.ArgumentParser:
    parser = common.parser(
        NAME,
        "Register coord's Claude Code hooks in the user's settings (install), take\n"
        "them out again (uninstall), or tell whether they are registered (status).",
        EPILOG,
    )
    parser.add_argument("action", choices=("install", "uninstall", "status"))
    parser.add_argument(
        "--settings",
        metavar="PATH",
        help="Claude Code settings file (default $CLAUDE_CONFIG_DIR/settings.json,"
        " else ~/.claude/settings.json)",
    )
    parser.add_argument(
        "--hooks-dir", metavar="DIR", help="hooks folder to register (default: beside the runtime)"
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return parser


def _program_path(argv0: str) -> str:
    """The program's path with links to it followed, but not links to folders above it.

    ``~/.local/bin/coord`` links to ``.../current/runtime/bin/coord``; keeping
    ``current`` (a link to the version folder) in the path is what lets an
    upgrade swap the hooks without touching settings.json again.
    """
    path = os.path.abspath(argv0)
    for _ in range(40):
        if not os.path.islink(path):
            break
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return path


def default_hooks_dir(argv0: str | None = None) -> Path:
    """The ``hooks`` folder next to the ``runtime`` folder this command runs from."""
    program = Path(_program_path(sys.argv[0] if argv0 is None else argv0))
    top = program.parent.parent.parent
    if program.parent.name == "bin" and (top / "hooks" / claude.TABLE_NAME).is_file():
        return top / "hooks"
    # Run some other way (python -m, tests): the tree this module lives in.
    return Path(__file__).resolve().parents[3] / "hooks"


def _report(settings_file: Path, hooks_dir: Path, settings: dict) -> dict:
    try:
        specs = claude.read_table(hooks_dir)
        document = claude.registration(settings, specs, hooks_dir)
    except CoordError as error:
        present = claude.registration(settings, [], hooks_dir)["present"]
        document = {"registered": False, "present": present, "hooks": [], "stale": []}
        document["error"] = str(error)
    document.update(
        settings=str(settings_file),
        hooks_dir=str(hooks_dir),
        guard=claude.guard_mode(os.environ),
    )
    return document


def hooks(args: argparse.Namespace, config: Config) -> int:
    settings_file = Path(args.settings) if args.settings else claude.settings_path(os.environ)
    hooks_dir = Path(os.path.abspath(args.hooks_dir)) if args.hooks_dir else default_hooks_dir()
    settings = claude.load_settings(settings_file)
    changed = False

    if args.action == "install":
        updated = claude.with_ours(settings, claude.read_table(hooks_dir), hooks_dir)
        changed = updated != settings
        if changed:
            claude.write_settings(settings_file, updated)
        settings = updated
    elif args.action == "uninstall":
        updated = claude.without_ours(settings)
        changed = updated != settings
        if changed:
            claude.write_settings(settings_file, updated)
        settings = updated

    document = _report(settings_file, hooks_dir, settings)
    if args.action != "status":
        document["changed"] = changed
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    if args.action == "install":
        count = len(document["hooks"])
        if changed:
            print(f"registered {count} hooks from {hooks_dir} in {settings_file}")
        else:
            print(f"coord's {count} hooks are already registered in {settings_file}; no change")
    elif args.action == "uninstall":
        verb = "removed coord's hooks from" if changed else "no coord hooks in"
        print(f"{verb} {settings_file}")
    else:
        state = "registered" if document["registered"] else "not registered"
        print(f"coord hooks are {state} in {settings_file} (guard: {document['guard']})")
        for hook in document["hooks"]:
            mark = "ok" if hook["registered"] else "missing"
            matcher = f" [{hook['matcher']}]" if hook["matcher"] else ""
            print(f"  {mark:<7} {hook['event']}{matcher}: {hook['command']}")
        for hook in document["stale"]:
            print(f"  stale   {hook['event']}: {hook['command']}")
        if "error" in document:
            print(f"  {document['error']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(NAME, build_parser, hooks, argv)
