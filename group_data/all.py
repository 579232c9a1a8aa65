"""Defaults for every host; the fleet file (or --data) overrides any of them per host."""

# present installs or updates coord; absent removes it (--data coord_state=absent).
coord_state = "present"
# With coord_state=absent, also delete what an uninstall keeps: the state clone, the
# hub's folder (poke log, heartbeats) and a bare coordination repository.
coord_purge = False

# The coordination repository: its branch, and the folder in it that holds the claims.
coord_branch = "main"
coord_dir = "coordination"
# Where each Yoda keeps its clone of that repository.
coord_state_clone = "~/.local/share/coord/state"

# The hub's folder, as a path on the hub (poke.log and heartbeats/ live there).
coord_hub_dir = "~/coord"
# The command coord runs to reach the hub (COORD_SSH).
coord_ssh_command = "ssh"
# How long an idle shared connection to the hub stays open (ssh's ControlPersist).
coord_ssh_control_persist = "10m"

# A Yoda counts as live for this many seconds after its last heartbeat, and as gone
# after stale_seconds.
coord_live_seconds = 90
coord_stale_seconds = 180
# How often coord-sync and coord-heartbeat run, in seconds.
coord_interval_seconds = 60

# auto picks systemd user units on Linux and launchd agents on macOS; none installs
# no background jobs.
coord_scheduler = "auto"
# May the deploy use sudo on this host? It then enables lingering (loginctl
# enable-linger) so that the user's systemd manager runs without a login.
coord_use_sudo = False

# Where the runtime and its links go, below the user's home.
coord_install_dir = "~/.local/share/llamaclaw-parallelism"
coord_bin_dir = "~/.local/bin"
coord_local_state = "~/.local/state/coord"
