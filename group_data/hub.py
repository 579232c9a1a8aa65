"""Defaults for the hub."""

# The hub keeps no bare coordination repository unless the fleet gives it a path
# (for example "coord.git", below the hub user's home); Yodas then clone it over ssh.
coord_bare_repository = ""
