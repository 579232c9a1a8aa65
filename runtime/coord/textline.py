"""Text for one line: escaping that gives any text back exactly, and short durations.

Text typed by users (topics, notes, pokes) is stored verbatim in line-oriented
files. A backslash, newline, tab, carriage return or any other control or line
separator character is written as a backslash escape, so one record is always
one line and ``unescape(escape(text)) == text`` for every string.
"""

from __future__ import annotations

import re
import unicodedata

_SIMPLE = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SIMPLE_BACK = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}

_ESCAPE_SEQUENCE = re.compile(r"\\(?:([\\nrt])|x([0-9a-f]{2})|u([0-9a-f]{4}))")


def _needs_code(char: str) -> bool:
    # Cc covers C0, DEL and C1 controls; Zl/Zp are the Unicode line and
    # paragraph separators; Cs are the lone surrogates that Python uses for
    # undecodable bytes in argv (they could not be written as UTF-8 otherwise).
    return unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs")


def escape(text: str) -> str:
    """Return *text* as a single line of printable characters."""
    out = []
    for char in text:
        if char in _SIMPLE:
            out.append(_SIMPLE[char])
        elif _needs_code(char):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def unescape(line: str) -> str:
    """Reverse :func:`escape`. A stray backslash is kept as it is."""

    def replace(match: re.Match) -> str:
        simple, byte, wide = match.groups()
        if simple:
            return _SIMPLE_BACK[simple]
        return chr(int(byte or wide, 16))

    return _ESCAPE_SEQUENCE.sub(replace, line)


def duration(seconds: float) -> str:
    """A span of time for people, rounded down: 40 s, 25 min, 150 min, 3 h, 2 d."""
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 3 * 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
