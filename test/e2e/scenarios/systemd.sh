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

log "== systemctl reload: the web config (TLS, basic auth) read again, a bad one kept out"
WEB=/etc/nfs-health-checkd/web.yml
TLSD=/etc/nfs-health-checkd/tls
mkdir -p "$TLSD"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=e2e-node \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TLSD/node.key" -out "$TLSD/node.crt" 2>/dev/null || log "openssl failed"
# bcrypt of "alpha-password" and of "beta-password": the users before and after the reload. Cost 4,
# the least: a pure-JS bcrypt at cost 10 takes over 5 s in this emulated VM (70 ms on hardware).
web_config() { printf 'tls_server_config:\n  cert_file: tls/node.crt\n  key_file: tls/node.key\nbasic_auth_users:\n  %s\n' "$1" >"$WEB"; }
# shellcheck disable=SC2016 # a hash's $ are its own, not expansions
web_config 'alpha: $2b$04$LHCYS03bc4N2QEmxZY0o..Ex6KVpQUmbLFhvJR2ZOt7vNld68Pjiy'
use_config "metrics:
  web_config_file: $WEB" || exit 1
# asks [USER:PASSWORD]: the HTTP status of GET /metrics over TLS, trusting only the node's certificate.
asks() { curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$TLSD/node.crt" ${1:+-u "$1"} https://127.0.0.1:12049/metrics 2>/dev/null; }
val web_alpha "$(asks alpha:alpha-password)"
val web_no_password "$(asks)"
val web_plain_http "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:12049/metrics)"
NFS_HEALTH_CHECKD_BASIC_AUTH=alpha:alpha-password nfs-health-checkd status >/dev/null 2>&1
val web_status_rc "$?"
pid=$(main_pid)
# shellcheck disable=SC2016
web_config 'beta: $2b$04$QBk8NPaCOtMylXQJCaSrxe2DfBeDwAtQ4SL66J35xAVgWQ6d4pvPu'
systemctl reload "$UNIT"
beta_in() { [ "$(asks beta:beta-password)" = 200 ]; }
wait_for 10 beta_in || log "beta not let in after the reload"
val web_beta_after_reload "$(asks beta:beta-password)"
val web_alpha_after_reload "$(asks alpha:alpha-password)"
printf 'tls_server_config:\n  cert_file: tls/missing.crt\n  key_file: tls/node.key\n' >"$WEB"
systemctl reload "$UNIT"
sleep 2
val web_beta_after_bad "$(asks beta:beta-password)"
val web_same_pid "$([ "$(main_pid)" = "$pid" ] && echo 1 || echo 0)"
val web_reloaded_lines "$(journalctl -b -u "$UNIT" -o cat --no-pager | grep -c '"msg":"web config reloaded')"
val web_kept_lines "$(journalctl -b -u "$UNIT" -o cat --no-pager | grep -c '"msg":"web config not reloaded')"
val web_password_lines "$(journalctl -b -u "$UNIT" -o cat --no-pager | grep -c -e alpha-password -e beta-password)"
use_config "" || exit 1

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
