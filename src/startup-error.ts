/**
 * The daemon cannot start as configured — a log file it cannot open, an address it cannot bind.
 * Like a bad config: one line naming the config key, exit 78, and no restart loop under systemd.
 */
export class StartupError extends Error {}
