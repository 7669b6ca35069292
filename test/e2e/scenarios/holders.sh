# The holder scenarios: a failover while two processes of other users hold the mounts — the
# stand-in airflow-scheduler.service (user airflow: cwd in /airflow/dags, its log kept open for
# append on /airflow/logs, carrying on after write errors) and an unrelated process (user nobody,
# cwd in /airflow/dags, in this runner's unit: no airflow-* unit). 5 s schedule.
# RESTART=1: holders.restart_units ["airflow-*.service"]; watched until the scheduler is restarted,
# writes to the new server and nobody is left on the old /airflow/logs (at most WATCH_S).
# RESTART=0: report only; watched WATCH_S s after the failover.
# DAEMON_RESTART=1 (with RESTART=0): once the gauge of /airflow/logs reads ≥ 1 and the daemon has
# named the scheduler on it, the daemon itself is restarted (systemctl restart), then upgraded
# (dpkg -i of the same .deb, DEB in the src share): each time the new daemon must name the
# scheduler again and the gauge come back, from the incident state it resumed (DAEMON_WAIT_S each).
# Events: healthy, failover_start, failover_done, dags_new_server, logs_new_server,
#   logs_detached_held, logs_detached_none, sched_restarted, sched_new_line_seen, sched_stopped;
#   with DAEMON_RESTART, for restart and upgrade: NAME_start, NAME_done, NAME_holders_logged,
#   NAME_gauge_back, NAME_holders_back.
# Values: the PIDs and users, the daemon's PID before and after, and the scheduler's lines: which
# numbers are on the old server's file (fsA), which on the new one's (fsB), which on neither;
# with DAEMON_RESTART, for each: the gauge before and after, the daemon's PIDs and mount namespace.
# shellcheck shell=bash
DAEMON_RESTART=${DAEMON_RESTART:-0}
SCHED=airflow-scheduler.service
SCHED_STATE=/var/lib/airflow-scheduler
sched_pid() { systemctl show -P MainPID "$SCHED"; }
uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
LOGS_HELD='nfs_mount_detached_holders{mount="/airflow/logs"}'
# sched_logged_by DAEMON_PID: that daemon process logged the scheduler (its PID and unit) as a
# holder of the detached /airflow/logs. The holder's pid follows the daemon's own in the line.
sched_logged_by() {
  journalctl -b "_PID=$1" -o cat --no-pager 2>/dev/null |
    grep -E '"msg":"holder (found on|left on) detached mount"' | grep -F '"mount":"/airflow/logs"' |
    grep -F "\"pid\":$SCHED_PID," | grep -qF "\"unit\":\"$SCHED\""
}
# daemon_back NAME OLD_PID GAUGE: within DAEMON_WAIT_S, a new daemon (not OLD_PID) names the
# scheduler on the detached /airflow/logs again and the gauge reads GAUGE again.
daemon_back() {
  local name=$1 old=$2 want=$3 t pid logged=0 back=0
  t=$(now_s)
  while [ "$(secs "$t")" -lt "$DAEMON_WAIT_S" ]; do
    pid=$(main_pid)
    if [ "$pid" != 0 ] && [ "$pid" != "$old" ]; then
      if [ "$logged" = 0 ] && sched_logged_by "$pid"; then logged=1 && ev "${name}_holders_logged"; fi
      if [ "$back" = 0 ] && [ "$(metric "$LOGS_HELD")" = "$want" ]; then back=1 && ev "${name}_gauge_back"; fi
      if [ "$logged" = 1 ] && [ "$back" = 1 ]; then
        ev "${name}_holders_back"
        break
      fi
    fi
    sleep 0.5
  done
  pid=$(main_pid)
  val "${name}_daemon_pid" "$pid"
  val "${name}_gauge_after" "$(metric "$LOGS_HELD")"
  val "${name}_ns_daemon" "$(readlink "/proc/$pid/ns/mnt")"
  val "${name}_run_dir" "$(run_dir_mode)"
}
# daemon_restart NAME CMD...: CMD restarts the daemon, which must come back to the incident.
daemon_restart() {
  local name=$1 old gauge
  shift
  old=$(main_pid)
  gauge=$(metric "$LOGS_HELD")
  val "${name}_daemon_pid_before" "$old"
  val "${name}_gauge_before" "$gauge"
  val "${name}_state_file_before" "$(present "$RUN_DIR/state.json")"
  ev "${name}_start"
  "$@"
  val "${name}_rc" "$?"
  ev "${name}_done"
  daemon_back "$name" "$old" "$gauge"
}
# nfs_mount_detached_holders{mount="/airflow/logs"}, sampled every 0.5 s on its own (the loop below
# waits on stale mounts): an event when it first rises, one when it is back to 0.
sample_logs_held() {
  local m held=0 n
  while :; do
    m=$(metrics 2>/dev/null)
    if [[ $m =~ nfs_mount_detached_holders\{mount=\"/airflow/logs\"\}\ ([0-9]+) ]]; then
      n=${BASH_REMATCH[1]}
      if [ "$held" = 0 ] && [ "$n" -ge 1 ]; then held=1 && ev logs_detached_held; fi
      if [ "$held" = 1 ] && [ "$n" = 0 ]; then held=2 && ev logs_detached_none; fi
    fi
    sleep 0.5
  done
}

wait_for 90 active || exit 1
ev daemon_active
conf='schedule: "*/5 * * * * *"'
if [ "$RESTART" = 1 ]; then
  conf="$conf
holders:
  restart_units: [\"airflow-*.service\"]"
fi
# The daemon restarted first: the PID it must keep from here on.
use_config "$conf" || exit 1
val daemon_pid_before "$(main_pid)"
val daemon_nrestarts_before "$(systemctl show -P NRestarts "$UNIT")"
timeout 20 ls /airflow/dags /airflow/logs >/dev/null
wait_for 90 both_accessible || exit 1
ev healthy

systemctl start "$SCHED" || exit 1
SCHED_PID=$(sched_pid)
setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c 'cd /airflow/dags && exec sleep infinity' &
OTHER=$!
sleep 2 # a few of the scheduler's lines on the old server
val sched_pid "$SCHED_PID"
val sched_uid "$(uid_of "$SCHED_PID")"
val airflow_uid "$(id -u airflow)"
val other_pid "$OTHER"
val other_uid "$(uid_of "$OTHER")"
val other_unit "$(awk -F/ '/^0::/ { print $NF }' "/proc/$OTHER/cgroup")"
log "scheduler $SCHED_PID: cwd $(readlink "/proc/$SCHED_PID/cwd"), fd 3 $(readlink "/proc/$SCHED_PID/fd/3"); other $OTHER: cwd $(readlink "/proc/$OTHER/cwd")"
# Not in step with the schedule: the failover lands anywhere in the interval.
sleep "$((RANDOM % 5))"
sample_logs_held &
SAMPLER=$!
ev failover_start
nfs-failover
ev failover_done
t_fail=$(now_s)

dags=0 logs=0 none=0 new_pid="" seen=0 done_at=""
while [ "$(secs "$t_fail")" -lt "$WATCH_S" ]; do
  if [ "$none" = 0 ] && grep -q '^logs_detached_none ' "$S/events"; then none=1; fi
  if [ "$dags" = 0 ] && serves /airflow/dags/example_dag.py fsB; then dags=1 && ev dags_new_server; fi
  if [ "$logs" = 0 ] && serves /airflow/logs/scheduler.log fsB; then logs=1 && ev logs_new_server; fi
  # The incident under way: /airflow/dags recovered, the gauge up, the scheduler named on the
  # detached /airflow/logs.
  if [ "$DAEMON_RESTART" = 1 ] && [ "$dags" = 1 ] && grep -q '^logs_detached_held ' "$S/events" && sched_logged_by "$(main_pid)"; then
    ev holders_named
    break
  fi
  if [ "$RESTART" = 1 ]; then
    if [ -z "$new_pid" ]; then
      p=$(sched_pid)
      if [ "$p" != "$SCHED_PID" ] && [ "$p" != 0 ]; then new_pid=$p && ev sched_restarted; fi
    fi
    if [ -n "$new_pid" ] && [ "$seen" = 0 ] && grep -q " pid $new_pid " /srv/a/airflow/logs/scheduler.log; then seen=1 && ev sched_new_line_seen; fi
    # Done: restarted, writing to the new server, nobody left on the old /airflow/logs; then one
    # more rescan's worth, to see the unrelated holder still reported.
    if [ -z "$done_at" ] && [ "$seen" = 1 ] && [ "$none" = 1 ]; then done_at=$(now_s); fi
    if [ -n "$done_at" ] && [ "$(secs "$done_at")" -ge 6 ]; then break; fi
  fi
  sleep 0.5
done
if [ "$DAEMON_RESTART" = 1 ]; then
  # The sampler would take the new daemon's first scrapes, before its scan, for the gauge's fall.
  kill "$SAMPLER"
  val ns_host "$(readlink /proc/1/ns/mnt)"
  if grep -q '^holders_named ' "$S/events"; then
    log "== systemctl restart $UNIT"
    daemon_restart restart systemctl restart "$UNIT"
    log "== dpkg -i $DEB (the same version again: an upgrade)"
    mkdir -p /mnt/src
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro src /mnt/src || exit 1
    daemon_restart upgrade dpkg -i --force-confold "/mnt/src/$DEB"
    umount /mnt/src
  fi
fi
timeout 5 ls -l /airflow/ | sed 's/^/    /'
val sched_pid_after "$(sched_pid)"
val sched_nrestarts "$(systemctl show -P NRestarts "$SCHED")"
val other_alive "$(kill -0 "$OTHER" 2>/dev/null && echo 1 || echo 0)"
val daemon_pid_after "$(main_pid)"
val daemon_nrestarts_after "$(systemctl show -P NRestarts "$UNIT")"
kill "$SAMPLER" 2>/dev/null
collect

# The scheduler's lines: stopped first, so its last number is final.
systemctl stop "$SCHED"
ev sched_stopped
kill "$OTHER" 2>/dev/null
journalctl -b -u "$SCHED" -o short-precise --no-pager >"$S/scheduler.journal" 2>&1
val sched_not_logged "$(grep -c ': not logged$' "$S/scheduler.journal")"
attempted=0
if [ -s "$SCHED_STATE/seq" ]; then read -r attempted <"$SCHED_STATE/seq"; fi
val new_server_fs "$(findmnt -no LABEL /srv/a)"
cp /srv/a/airflow/logs/scheduler.log "$S/scheduler.log.new"
: >"$S/scheduler.log.old"
mkdir -p /mnt/fsA
if mount -o ro LABEL=fsA /mnt/fsA; then
  cp /mnt/fsA/airflow/logs/scheduler.log "$S/scheduler.log.old"
  umount /mnt/fsA
fi
# Lines are "seq N pid PID t UNIX_TIME". The first PID not the scheduler's first is its restart.
while read -r k v; do val "$k" "$v"; done < <(awk -v n="$attempted" -v first="$SCHED_PID" '
function ranges(set, lo, hi,   s, a, out) {
  out = ""; a = 0
  for (s = lo; s <= hi + 1; s++) {
    if (s <= hi && (s in set)) { if (!a) a = s; continue }
    if (a) { out = out (out == "" ? "" : ",") (a == s - 1 ? a : a "-" (s - 1)); a = 0 }
  }
  return out == "" ? "none" : out
}
$1 == "seq" && NF >= 6 {
  s = $2 + 0; count[s]++
  if (FILENAME ~ /new$/) {
    onnew[s] = 1; newc++
    if ($4 == first) firstc++
    else { if (np == "") { np = $4; ns = s; nt = $6 }; if ($4 == np) npc++ }
  } else { onold[s] = 1; oldc++ }
}
END {
  for (s = 1; s <= n; s++) {
    if (!(s in count)) { lost[s] = 1; lostc++; if (np != "" && s > ns) lateLost++ }
    else if (count[s] > 1) dup++
  }
  gsub(/\./, "", nt)
  print "lines_attempted", n + 0
  print "lines_old_server", oldc + 0
  print "old_server_seqs", ranges(onold, 1, n)
  print "lines_new_server", newc + 0
  print "new_server_seqs", ranges(onnew, 1, n)
  print "first_pid_lines_new_server", firstc + 0
  print "new_pid", (np == "" ? "none" : np)
  print "new_pid_lines_new_server", npc + 0
  print "new_first_seq", (np == "" ? "none" : ns)
  print "new_first_line_us", (np == "" ? "none" : nt)
  print "lines_lost", lostc + 0
  print "lost_seqs", ranges(lost, 1, n)
  print "lines_lost_after_restart", lateLost + 0
  print "lines_doubled", dup + 0
}' "$S/scheduler.log.old" "$S/scheduler.log.new")
