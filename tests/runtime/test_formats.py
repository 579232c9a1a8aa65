"""The file formats read back exactly what was written."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from coord.claims import (
    Claim,
    ClaimFileError,
    LogEvent,
    format_event,
    parse_claims,
    parse_event,
    render_claims,
)
from coord.scan import globs_overlap, keywords, path_under
from coord.textline import escape, unescape

AWKWARD = [
    "plain words",
    "quotes \" and ' and `backticks` and $(touch /tmp/owned); rm -rf / | cat",
    "two\nlines\r\nand a tab\there",
    "back\\slash \\n not a newline",
    "non-ASCII: héllo wörld ✓ 日本語 🚀",
    "controls \x00 \x07 \x1b[31m \x7f \x85 \u2028 \u2029",
    "trailing spaces   ",
    "## looks like a heading",
    "- path: looks like a field",
    "x" * 10_000,
]


@pytest.mark.parametrize("text", AWKWARD, ids=range(len(AWKWARD)))
def test_escape_round_trips_on_one_line(text):
    line = escape(text)

    assert unescape(line) == text
    assert len(line.splitlines()) <= 1
    assert "\n" not in line


def test_unescape_leaves_a_stray_backslash():
    assert unescape("a\\qb\\") == "a\\qb\\"


@pytest.mark.parametrize("text", AWKWARD, ids=range(len(AWKWARD)))
def test_claim_file_round_trips(text):
    when = datetime(2026, 12, 3, 16, 47, 5, tzinfo=timezone.utc)
    claims = [
        Claim("mac-1", text, 90, when, "host-a", ("src/auth/**", "a b/c.py"), note=text),
        Claim("mac-1", "second", 5, when, "host-a"),
    ]

    assert parse_claims("mac-1", render_claims("mac-1", claims)) == claims


@pytest.mark.parametrize(
    "text",
    [
        "not a claim file",
        "# Claims of mac-1\n\n## topic\n- ttl: 90 min\n",
        "# Claims of mac-1\n\n## topic\n- ttl: many\n- claimed: 2026-12-03T16:47:05Z\n- host: h\n",
        "# Claims of mac-1\n\n## t\n- ttl: 9 min\n- claimed: yesterday\n- host: h\n",
        "# Claims of mac-1\n\n## t\n- ttl: 9 min\n- ttl: 9 min\n- claimed: 2026-12-03T16:47:05Z\n",
        "# Claims of mac-1\n\n## t\n- colour: red\n",
        "# Claims of mac-2\n",
        "# Claims of mac-1\nstray line\n",
    ],
)
def test_damaged_claim_files_are_refused(text):
    with pytest.raises(ClaimFileError):
        parse_claims("mac-1", text)


@pytest.mark.parametrize("text", AWKWARD, ids=range(len(AWKWARD)))
def test_log_line_round_trips(text):
    event = LogEvent(datetime(2026, 12, 3, tzinfo=timezone.utc), "mac-1", "CLAIM", "ab12cd34", text)
    line = format_event(event)

    assert line.count("\n") == 1
    assert parse_event(line) == event


def test_keywords_drop_stop_words_and_fold_case():
    assert keywords("Fix the AUTH token refresh for the login page") == {
        "fix",
        "auth",
        "token",
        "refresh",
        "login",
        "page",
    }


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("src/auth/**", "src/auth/login.py", True),
        ("src/auth", "src/auth/login.py", True),
        ("src/", "src/auth/deep/x.py", True),
        ("src/*.py", "src/main.py", True),
        ("src/**", "src/ui/*.css", True),
        ("docs/*.md", "src/main.py", False),
        ("src/auth/**", "src/ui/**", False),
        ("src/auth.py", "src/auth.pyc", False),
        ("tests/test_a.py", "tests/test_b.py", False),
    ],
)
def test_glob_overlap(first, second, overlap):
    assert globs_overlap(first, second) is overlap
    assert globs_overlap(second, first) is overlap


def test_path_under_names_the_covering_glob():
    assert path_under("src/auth/login.py", ["docs/**", "src/auth"]) == "src/auth"
    assert path_under("README.md", ["docs/**", "src/auth"]) is None
