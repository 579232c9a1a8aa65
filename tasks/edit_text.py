"""Read, put or remove our region of a file the user owns (shell rc, ~/.ssh/config).

The deploy runs this on the host as ``python3 -c <this file> ACTION PATH START STOP
[TEXT MODE BEFORE]``; it needs Python 3.9 and nothing else.

The region is the first line that is START (or START, a space and more) through the
first line at or after it that is STOP in the same way (one line when the two are the
same). Everything
else in the file is left byte for byte as it was, whatever its encoding and whether or
not it ends with a newline, and the file is rewritten in place, so its owner, mode and
any symlink to it stay.

- ``read`` prints ``{"exists": ..., "region": ..., "misplaced": ...}`` as JSON.
- ``put`` writes TEXT as the region: where the region was, or else at the top. A new
  file gets MODE (octal). With BEFORE (a regular expression), a region found after a
  line matching it is moved to the top.
- ``remove`` cuts the region out; a file left empty is deleted.
"""

import json
import os
import re
import sys


def fail(message):
    sys.stderr.write(message + "\n")
    sys.exit(1)


def load(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None


def starts(line, word):
    """Whether line is word, or word and a space and more."""
    bare = line.rstrip("\r\n")
    return bare == word or bare.startswith(word + " ")


def locate(path, text, start, stop):
    """(begin, end) offsets of the region in text, or None; a region without its end fails."""
    offset = 0
    begin = None
    for line in text.splitlines(True):
        if begin is None and starts(line, start):
            begin = offset
        if begin is not None and starts(line, stop):
            return begin, offset + len(line)
        offset += len(line)
    if begin is not None:
        fail(f"{path}: a line starting {start!r} has no line starting {stop!r} after it")
    return None


def misplaced(text, span, before):
    if not before or span is None:
        return False
    pattern = re.compile(before)
    return any(pattern.match(line) for line in text[: span[0]].splitlines())


def save(path, text, mode=None):
    data = text.encode("utf-8", "surrogateescape")
    if mode is None:
        with open(path, "r+b") as handle:
            handle.write(data)
            handle.truncate()
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def main(argv):
    action, path, start, stop = argv[:4]
    text = load(path)
    span = locate(path, text, start, stop) if text is not None else None

    if action == "read":
        before = argv[4] if len(argv) > 4 else ""
        print(
            json.dumps(
                {
                    "exists": text is not None,
                    "region": text[span[0] : span[1]] if span else None,
                    "misplaced": misplaced(text, span, before),
                }
            )
        )
    elif action == "put":
        wanted, mode, before = argv[4], int(argv[5], 8), argv[6]
        if text is None:
            save(path, wanted, mode)
        elif span is None:
            save(path, wanted + text)
        elif misplaced(text, span, before):
            save(path, wanted + text[: span[0]] + text[span[1] :])
        else:
            save(path, text[: span[0]] + wanted + text[span[1] :])
    elif action == "remove":
        if span is None:
            return
        rest = text[: span[0]] + text[span[1] :]
        if rest:
            save(path, rest)
        else:
            os.remove(path)
    else:
        fail(f"unknown action {action!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
