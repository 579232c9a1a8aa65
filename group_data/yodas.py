"""Defaults for the hosts where Yodas run."""

# Register coord's hooks in Claude Code (~/.claude/settings.json).
coord_hooks = True
