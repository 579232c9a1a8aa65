"""What the deploy asks a host, beyond pyinfra's own facts."""

from __future__ import annotations

import json
from pathlib import Path

from pyinfra.api import FactBase, QuoteString, StringCommand

EDIT_TEXT = (Path(__file__).parent / "edit_text.py").read_text()


class LoginShell(FactBase):
    """The user's login shell (a path), from the passwd database or macOS's directory."""

    def command(self) -> str:
        return (
            'me="$(id -un)"; '
            'getent passwd "$me" 2>/dev/null | cut -d: -f7; '
            'dscl . -read "/Users/$me" UserShell 2>/dev/null | sed "s/^UserShell: *//"; '
            "true"
        )

    def process(self, output: list[str]) -> str:
        shells = [line.strip() for line in output if line.strip()]
        return shells[0] if shells else ""


class UserManager(FactBase):
    """The user's systemd manager: {"state": "running" | "degraded" | ... | "offline", "booted"}.

    pyinfra's own systemd facts swallow "Failed to connect to bus", so a host without a
    user manager looks like one without units; this tells the two apart. "booted" says
    whether /run/systemd/system exists (the machine runs systemd as PID 1).
    """

    def requires_command(self) -> str:
        return "systemctl"

    def command(self) -> str:
        return (
            "systemctl --user is-system-running 2>/dev/null; "
            "if [ -d /run/systemd/system ]; then echo booted; else echo not-booted; fi"
        )

    def process(self, output: list[str]) -> dict:
        lines = [line.strip() for line in output if line.strip()]
        state = lines[0] if len(lines) > 1 else "offline"
        return {"state": state, "booted": bool(lines) and lines[-1] == "booted"}

    @staticmethod
    def default() -> dict:
        return {"state": "offline", "booted": False}


class Uid(FactBase):
    """The user's numeric id."""

    def command(self) -> str:
        return "id -u"

    def process(self, output: list[str]) -> int:
        return int(output[0].strip())


class ExistingFiles(FactBase):
    """Which of the given paths exist (as anything, a link included)."""

    def command(self, paths: list[str]) -> StringCommand:
        return StringCommand(
            "for f in",
            *(QuoteString(path) for path in paths),
            '; do if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\\n" "$f"; fi; done',
        )

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line]

    @staticmethod
    def default() -> list[str]:
        return []


class TreeDigest(FactBase):
    """The digest of the runtime archive unpacked at a path ("" when there is none)."""

    def command(self, path: str) -> StringCommand:
        stamp = QuoteString(f"{path}/.coord-digest")
        return StringCommand("cat", stamp, "2>/dev/null", "||", "true")

    def process(self, output: list[str]) -> str:
        return "".join(output).strip()


class SubFolders(FactBase):
    """Names of the folders (not links) directly inside a path."""

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "for f in",
            StringCommand(QuoteString(path), "/*", _separator=""),
            '; do if [ -d "$f" ] && [ ! -L "$f" ]; then basename "$f"; fi; done',
        )

    def process(self, output: list[str]) -> list[str]:
        return sorted(line for line in output if line)

    @staticmethod
    def default() -> list[str]:
        return []


class CommandLinks(FactBase):
    """The coord commands in a bin folder: name -> link target, or None for a non-link."""

    def command(self, bin_dir: str) -> StringCommand:
        return StringCommand(
            "for f in",
            StringCommand(QuoteString(bin_dir), "/coord", _separator=""),
            StringCommand(QuoteString(bin_dir), "/coord-*", _separator=""),
            '; do if [ -L "$f" ]; then',
            'printf "L\\t%s\\t%s\\n" "$(basename "$f")" "$(readlink "$f")";',
            'elif [ -e "$f" ]; then printf "F\\t%s\\n" "$(basename "$f")"; fi; done',
        )

    def process(self, output: list[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for line in output:
            parts = line.split("\t")
            if parts[0] == "L" and len(parts) == 3:
                found[parts[1]] = parts[2]
            elif parts[0] == "F" and len(parts) == 2:
                found[parts[1]] = None
        return found

    @staticmethod
    def default() -> dict:
        return {}


class ManagedText(FactBase):
    """Our region of a user's file (see edit_text.py): exists, region, misplaced."""

    def command(self, path: str, start: str, stop: str, before: str = "") -> StringCommand:
        return StringCommand(
            "python3",
            "-c",
            QuoteString(EDIT_TEXT),
            "read",
            QuoteString(path),
            QuoteString(start),
            QuoteString(stop),
            QuoteString(before),
        )

    def process(self, output: list[str]) -> dict:
        return json.loads("".join(output))


class LaunchAgentLoaded(FactBase):
    """Whether a launchd agent is loaded in the user's GUI session."""

    def requires_command(self, label: str) -> str:
        return "launchctl"

    def command(self, label: str) -> StringCommand:
        return StringCommand(
            "launchctl print",
            StringCommand('"gui/$(id -u)/', label, '"', _separator=""),
            ">/dev/null 2>&1 && echo loaded || echo absent",
        )

    def process(self, output: list[str]) -> bool:
        return "".join(output).strip() == "loaded"

    @staticmethod
    def default() -> bool:
        return False


class HooksStatus(FactBase):
    """``coord hooks status --json`` on the host, or None when coord is not installed."""

    def command(self, program: str) -> StringCommand:
        return StringCommand(
            "if [ -x",
            QuoteString(program),
            "]; then",
            QuoteString(program),
            "hooks status --json; else echo null; fi",
        )

    def process(self, output: list[str]):
        return json.loads("\n".join(output))


class FolderEntries(FactBase):
    """Names in a folder (hidden ones too), or None when there is no such folder."""

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "if [ -d",
            QuoteString(path),
            "]; then echo folder; ls -A",
            QuoteString(path),
            "; fi",
        )

    def process(self, output: list[str]):
        if not output or output[0] != "folder":
            return None
        return sorted(line for line in output[1:] if line)


class CloneOrigin(FactBase):
    """The origin URL of the git clone at a path: None without a clone, "" without origin."""

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "if [ -e",
            QuoteString(f"{path}/.git"),
            "]; then echo clone; git -C",
            QuoteString(path),
            "config --get remote.origin.url || true; fi",
        )

    def process(self, output: list[str]):
        if not output or output[0] != "clone":
            return None
        return output[1] if len(output) > 1 else ""
