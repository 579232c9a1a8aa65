"""Custom operations: each looks at the host through a fact and acts only on a difference,
so a second deploy (or a second uninstall) changes nothing.
"""

from __future__ import annotations

from io import BytesIO

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.operations import files

from tasks.facts import (
    EDIT_TEXT,
    CloneOrigin,
    CommandLinks,
    ExistingFiles,
    FolderEntries,
    HooksStatus,
    LaunchAgentLoaded,
    ManagedText,
    SubFolders,
    TreeDigest,
)
from tasks.helpers import Archive, Job, launchctl_steps


def _command(argv: list[str]) -> StringCommand:
    return StringCommand(*(QuoteString(word) for word in argv))


@operation()
def unpacked_tree(archive: Archive, dest: str):
    """
    Unpack the runtime archive into ``dest`` unless the same archive is there already.

    + archive: the helpers.Archive to ship
    + dest: the folder that holds its contents (replaced as a whole)

    The archive's digest is written beside what it unpacked, in ``.coord-digest``.
    """
    if host.get_fact(TreeDigest, path=dest) == archive.digest:
        host.noop(f"{dest} holds this runtime already")
        return

    packed = f"{dest}.tar.gz"
    fresh = f"{dest}.new"
    yield from files.put._inner(src=BytesIO(archive.data), dest=packed, mode="600")
    yield StringCommand(
        "rm -rf",
        QuoteString(fresh),
        "&& mkdir -p",
        QuoteString(fresh),
        # -m: files get the time of unpacking, so Python's bytecode caches see new sources.
        "&& tar -xmzf",
        QuoteString(packed),
        "-C",
        QuoteString(fresh),
        "&& printf '%s\\n'",
        QuoteString(archive.digest),
        ">",
        QuoteString(f"{fresh}/.coord-digest"),
        "&& rm -rf",
        QuoteString(dest),
        "&& mv",
        QuoteString(fresh),
        QuoteString(dest),
        "&& rm -f",
        QuoteString(packed),
    )


@operation()
def command_links(bin_dir: str, targets: dict[str, str], owned_prefix: str, present=True):
    """
    Link each coord command into ``bin_dir``, or remove the links.

    + bin_dir: the folder on PATH (~/.local/bin)
    + targets: link name -> what it points to
    + owned_prefix: links pointing below this path are ours; others are left alone
    + present: whether the links should exist

    A file of the same name that is not a link is never replaced.
    """
    current = host.get_fact(CommandLinks, bin_dir=bin_dir)
    ours = {name for name, target in current.items() if target and target.startswith(owned_prefix)}
    wanted = targets if present else {}

    clashes = sorted(name for name in wanted if name in current and current[name] is None)
    if clashes:
        raise OperationError(
            f"{bin_dir}/{clashes[0]} exists and is not a link: move it away and deploy again"
        )
    stale = sorted(ours - set(wanted))
    changes = sorted(name for name, target in wanted.items() if current.get(name) != target)
    if not stale and not changes:
        host.noop("the coord commands are linked" if present else "no coord command is linked")
        return

    if changes:
        yield StringCommand("mkdir -p", QuoteString(bin_dir))
    for name in changes:
        yield StringCommand("ln -sfn", QuoteString(wanted[name]), QuoteString(f"{bin_dir}/{name}"))
    for name in stale:
        yield StringCommand("rm -f", QuoteString(f"{bin_dir}/{name}"))


@operation()
def managed_text(
    path: str, text: str, start: str, stop: str, present=True, mode="644", before: str = ""
):
    """
    Put (or remove) our region of a file the user owns, leaving every other byte alone.

    + path: the file (~/.bashrc, ~/.ssh/config)
    + text: the region's text, from its START line through its STOP line
    + start: the region's first line (or its first words)
    + stop: the region's last line (or its first words); the same as start for one line
    + present: whether the region should be there
    + mode: the mode of the file when it has to be created
    + before: a regular expression; the region must sit above any line matching it

    A new region goes at the top of the file; a file left empty by a removal is deleted.
    """
    current = host.get_fact(ManagedText, path=path, start=start, stop=stop, before=before)
    if present:
        if current["region"] == text and not current["misplaced"]:
            host.noop(f"{path} has it already")
            return
        argv = ["put", path, start, stop, text, mode, before]
    else:
        if current["region"] is None:
            host.noop(f"{path} does not have it")
            return
        argv = ["remove", path, start, stop]
    yield StringCommand("python3 -c", QuoteString(EDIT_TEXT), *(QuoteString(a) for a in argv))


@operation()
def bare_repository(path: str, branch: str, present=True):
    """
    Create (or delete) a bare git repository to serve as the coordination remote.

    + path: where the repository lives
    + branch: the branch its HEAD names
    + present: whether it should exist
    """
    exists = bool(host.get_fact(ExistingFiles, paths=[f"{path}/HEAD"]))
    if present and not exists:
        yield StringCommand(
            "git init --quiet --bare",
            QuoteString(path),
            "&& git --git-dir",
            QuoteString(path),
            "symbolic-ref HEAD",
            QuoteString(f"refs/heads/{branch}"),
        )
    elif not present and host.get_fact(ExistingFiles, paths=[path]):
        yield StringCommand("rm -rf", QuoteString(path))
    else:
        host.noop(f"{path} is {'there' if present else 'gone'}")


@operation()
def clone(src: str, dest: str):
    """
    Clone a repository once; afterwards only keep its origin pointing at ``src``.

    + src: the repository's URL (or path)
    + dest: the clone's folder

    Unlike git.repo this never pulls (coord-sync keeps the clone in step) and copes
    with a clone of a repository that has no commit yet.
    """
    origin = host.get_fact(CloneOrigin, path=dest)
    if origin is None:
        parent = dest.rsplit("/", 1)[0] or "/"
        yield StringCommand(
            "mkdir -p",
            QuoteString(parent),
            "&& git clone --quiet",
            QuoteString(src),
            QuoteString(dest),
        )
    elif origin != src:
        yield StringCommand("git -C", QuoteString(dest), "remote set-url origin", QuoteString(src))
    else:
        host.noop(f"{dest} is a clone of {src}")


@operation()
def launch_agent(job: Job, plist: str, uid: int, present=True, reload=False):
    """
    Load (or unload) a launchd agent in the user's GUI session.

    + job: the helpers.Job the agent runs
    + plist: the agent's property list in ~/Library/LaunchAgents
    + uid: the user's id (the session is gui/<uid>)
    + present: whether the agent should be loaded
    + reload: unload and load again a loaded agent (its plist or program changed)
    """
    loaded = host.get_fact(LaunchAgentLoaded, label=job.label)
    steps = launchctl_steps(uid, job, plist, present=present, loaded=loaded, reload=reload)
    if not steps:
        host.noop(f"{job.label} is {'loaded' if present else 'not loaded'}")
    for argv in steps:
        yield _command(argv)


@operation()
def hooks_registration(program: str, present=True):
    """
    Register (or remove) the Claude Code hooks through ``coord hooks``.

    + program: the coord program on the host
    + present: whether the hooks should be registered

    ``coord hooks status --json`` says whether anything needs doing ("registered": exactly
    the hooks of the runtime's table; "present": any of coord's); install and uninstall
    merge into ~/.claude/settings.json and keep every other key and hook.
    """
    status = host.get_fact(HooksStatus, program=program) or {}
    if present and not status.get("registered"):
        yield _command([program, "hooks", "install"])
    elif not present and status.get("present"):
        # "present": any coord hook at all, such as one an older hooks table listed.
        yield _command([program, "hooks", "uninstall"])
    else:
        host.noop("the hooks are registered" if present else "no hook is registered")


@operation()
def other_folders_removed(path: str, keep: str):
    """
    Delete every folder inside ``path`` but ``keep`` (older runtimes, unfinished unpacks).

    + path: the parent folder
    + keep: the name of the folder to keep
    """
    others = [name for name in host.get_fact(SubFolders, path=path) if name != keep]
    if not others:
        host.noop(f"{path} holds {keep} only")
    for name in others:
        yield StringCommand("rm -rf", QuoteString(f"{path}/{name}"))


@operation()
def empty_folder_removed(path: str):
    """
    Delete a folder of ours once nothing is left in it; one holding anything stays.

    + path: the folder
    """
    if host.get_fact(FolderEntries, path=path) == []:
        yield StringCommand("rmdir", QuoteString(path))
    else:
        host.noop(f"{path} is gone or holds something")


@operation()
def connection_folder_removed(path: str):
    """
    Close the shared ssh connections whose sockets are in ``path``, then delete it.

    + path: the ControlPath folder

    Without this the connections would outlive the uninstall by their ControlPersist.
    """
    if host.get_fact(FolderEntries, path=path) is None:
        host.noop(f"{path} is gone")
        return
    yield StringCommand(
        "for socket in",
        StringCommand(QuoteString(path), "/*", _separator=""),
        '; do if [ -S "$socket" ]; then',
        'ssh -o ControlPath="$socket" -O exit coord-hub >/dev/null 2>&1 || true;',
        "fi; done; rm -rf",
        QuoteString(path),
    )


@operation()
def lingering(user: str):
    """
    Let the user's systemd manager run while the user is not logged in (needs sudo).

    + user: the user name
    """
    # Anyone may look; only the change itself needs the operation's sudo.
    if host.get_fact(ExistingFiles, paths=[f"/var/lib/systemd/linger/{user}"], _sudo=False):
        host.noop(f"{user} lingers already")
        return
    yield StringCommand("loginctl enable-linger", QuoteString(user))
