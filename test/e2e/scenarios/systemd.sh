# Scenario 4: the unit under systemd. This boot comes after the install boot, so the daemon
# running at all shows `systemctl enable` survived a reboot.
# shellcheck shell=bash
LOGF=/var/log/nfs-health-check.log
wait_for 90 active || exit 1
val boot_id "$(cat /proc/sys/kernel/random/boot_id)"
val is_enabled "$(systemctl is-enabled "$UNIT")"
val ns_host "$(readlink /proc/1/ns/mnt)"
val ns_daemon "$(readlink "/proc/$(main_pid)/ns/mnt")"

log "== READY: active only once the daemon said READY=1 (metrics port bound, first cycle started)"
systemctl restart --no-block "$UNIT"
states=""
for _ in $(seq 1 150); do
  st=$(systemctl is-active "$UNIT")
  [ "${states##* }" = "$st" ] || states="$states $st"
  if [ "$st" = active ]; then break; fi
  sleep 0.1
done
val ready_states "${states# }"
val metrics_when_active "$(metrics >/dev/null 2>&1 && echo 1 || echo 0)"
start_us=$(systemctl show -P ExecMainStartTimestampMonotonic "$UNIT")
active_us=$(systemctl show -P ActiveEnterTimestampMonotonic "$UNIT")
val activating_s "$(awk "BEGIN { printf \"%.2f\", ($active_us - $start_us) / 1e6 }")"
val status_text "$(systemctl show -P StatusText "$UNIT")"

log "== logrotate with the shipped config, the daemon logging every second (debug, 1 s schedule)"
systemctl stop "$UNIT"
rm -f "$LOGF"*
use_config 'schedule: "* * * * * *"
log:
  level: debug' || exit 1
inv=$(systemctl show -P InvocationID "$UNIT")
sleep 4
for _ in 1 2 3 4; do
  logrotate -f /etc/logrotate.d/nfs-health-checkd || log "logrotate failed"
  sleep 2
done
systemctl stop "$UNIT"
find /var/log -maxdepth 1 -name 'nfs-health-check.log*' -printf '    %f %s bytes\n'
val rotated_files "$(find /var/log -maxdepth 1 -name 'nfs-health-check.log.*' | wc -l)"
val file_lines "$(cat "$LOGF" "$LOGF".1 2>/dev/null | grep -c '^{')"
val gz_lines "$(zcat "$LOGF".*.gz 2>/dev/null | grep -c '^{')"
val journal_lines "$(journalctl -b "_SYSTEMD_INVOCATION_ID=$inv" -o cat --no-pager | grep -c '^{')"
val file_lines_unique "$( { cat "$LOGF" "$LOGF".1 2>/dev/null; zcat "$LOGF".*.gz 2>/dev/null; } | grep '^{' | sort -u | wc -l)"

log "== stop with a probe stuck in the kernel"
use_config 'schedule: "*/5 * * * * *"
recovery:
  enabled: false' || exit 1
timeout 20 ls /airflow/dags /airflow/logs >/dev/null
wait_for 60 both_accessible || exit 1
block
ev block
if wait_for 60 dags_stuck; then ev dags_stuck; fi
val stuck_threads "$(threads)"
t=$(us)
systemctl stop "$UNIT"
val stop_s "$(since "$t")"
val stop_state "$(systemctl show -P ActiveState "$UNIT")/$(systemctl show -P Result "$UNIT")"
val timeout_stop_s "$(($(systemctl show -P TimeoutStopUSec "$UNIT" | sed 's/s$//') + 0))"
unblock
ev unblock
use_config "" || exit 1
wait_for 120 both_accessible || log "not accessible again after the outage"

log "== watchdog: the main process SIGSTOPped"
pid=$(main_pid)
n0=$(systemctl show -P NRestarts "$UNIT")
kill -STOP "$pid"
ev sigstop
restarted() { local p; p=$(main_pid); [ "$p" != "$pid" ] && [ "$p" != 0 ] && active; }
if wait_for 150 restarted; then ev watchdog_restarted; fi
val restarts "$(($(systemctl show -P NRestarts "$UNIT") - n0))"
val watchdog_log "$(journalctl -b -u "$UNIT" -o cat --no-pager | grep -c 'Watchdog timeout')"
val ns_daemon_after "$(readlink "/proc/$(main_pid)/ns/mnt")"
collect
