# The removal boot, after every scenario: the installed disk booted afresh (the daemon started
# by systemd), then dpkg -r and dpkg -P as an admin would run them. What each leaves is recorded
# for the host to judge: remove keeps the conffiles and the incident state's /run directory, and
# stops and takes away everything else; purge takes the rest.
# shellcheck shell=bash
PKG=nfs-health-checkd
APP=/usr/lib/nfs-health-checkd/ # the daemon runs as $APP/node $APP/app/cli.js
# Its processes by command line, on one line ("" when none).
procs() { pgrep -fa "$APP" | tr '\n' ';'; }

# A daemon to stop: removal must not leave it running.
wait_for 90 active || log "not active before the removal"
val active_before "$(systemctl is-active "$UNIT")"
val procs_before "$(pgrep -fc "$APP")"
# The incident state's directory (RuntimeDirectory=, kept when the service stops): there while the
# daemon runs, and a file in it still there after a restart.
val run_dir_running "$(run_dir_mode)"
touch "$RUN_DIR/e2e-kept"
systemctl restart "$UNIT"
wait_for 60 active || log "not active after the restart"
val run_dir_after_restart "$(run_dir_mode)"
val run_dir_file_after_restart "$(present "$RUN_DIR/e2e-kept")"

log "== dpkg -r $PKG"
t=$(us)
dpkg -r "$PKG"
val remove_rc "$?"
val remove_s "$(since "$t")"
val dpkg_status_removed "$(dpkg-query -W -f="\${db:Status-Abbrev}" "$PKG" 2>/dev/null)"
val config_after_remove "$(present "$CONF")"
val logrotate_after_remove "$(present /etc/logrotate.d/nfs-health-checkd)"
val unit_file_after_remove "$(present "/lib/systemd/system/$UNIT.service")"
val bin_after_remove "$(present /usr/bin/nfs-health-checkd)"
# prerm's stop is synchronous: anything still there now was left behind.
val procs_after_remove "$(pgrep -fc "$APP")"
val procs_left "$(procs)"
val is_active_after_remove "$(systemctl is-active "$UNIT")"
val run_dir_after_remove "$(present "$RUN_DIR")"

log "== dpkg -P $PKG"
t=$(us)
dpkg -P "$PKG"
val purge_rc "$?"
val purge_s "$(since "$t")"
val config_dir_after_purge "$(present /etc/nfs-health-checkd)"
val logrotate_after_purge "$(present /etc/logrotate.d/nfs-health-checkd)"
val run_dir_after_purge "$(present "$RUN_DIR")"
dpkg -s "$PKG" >/dev/null 2>&1
val dpkg_s_rc "$?"
# The enablement link of `systemctl enable` and remove's mask: purge takes both.
val unit_links_after_purge "$(find /etc/systemd/system -name "$UNIT.service" | tr '\n' ' ')"
collect
