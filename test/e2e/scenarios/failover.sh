# Scenario 1: a failover while Airflow-like processes hold both mounts. The daemon runs as
# installed, with the default config but for SCHEDULE (when given).
# READER=1: an Airflow-like reader reads /airflow/dags every second, from before the failover.
# QUIET=1: nothing touches the mounts after the failover (the holders neither read nor write; the
# job waits for the daemon's recovery on /metrics before it reads), so that only the daemon's own
# probes, or the kernel's own traffic, can find the failure.
# PHASE=tick+N: the failover starts N s after a tick of the schedule (INTERVAL_S, default 30);
# without, anywhere in it.
# The kernel's NFS counters and messages are recorded healthy, during the fault and after it
# (record_kernel: mountstats-*.txt, dmesg-*.txt).
# The static fstab mount /mnt/static (same VIP, nobody on it) is taken away by the daemon's
# umount -a too; the daemon must mount it again after its recovery.
# Events: failover_start, failover_done, dags_new_server, logs_new_server, static_new_server.
# shellcheck shell=bash
wait_for 90 active || exit 1
ev daemon_active
if [ -n "${SCHEDULE:-}" ]; then use_config "schedule: \"$SCHEDULE\"" || exit 1; fi
timeout 20 ls /airflow/dags /airflow/logs
wait_for 90 both_accessible || exit 1
ev healthy
wait_for 60 static_settled
val static_boot_mounted "$([ "$(systemctl show -P ActiveEnterTimestampMonotonic mnt-static.mount)" -gt 0 ] && echo 1 || echo 0)"
if ! static_mounted; then
  # Mounted at boot but gone already: a recovery before the fault took it (needless_recoveries
  # counts those). Mounted again, so that the failover has it to take away.
  val static_mounted_by_job 1
  systemctl start mnt-static.mount
fi
val static_before "$(static_mount)"
val static_old_server "$(serves "$STATIC/server.txt" fsA && echo 1 || echo 0)"
record_kernel healthy
start_holders
if [ "${READER:-0}" = 1 ]; then start_reader; fi
if [ -n "${PHASE:-}" ]; then
  until_tick "${PHASE#tick+}" "${INTERVAL_S:-30}"
else
  # Not in step with the schedule: the failover lands anywhere in the interval.
  sleep "$((RANDOM % ${PHASE_MAX_S:-5}))"
fi
ev failover_start
nfs-failover
ev failover_done
# The counters while the client gets ESTALE, before any recovery takes the mount away.
(sleep 2 && record_kernel failover) &
if [ "${QUIET:-0}" = 1 ]; then
  wait_for "$WAIT_S" recovered
else
  timeout 5 ls /airflow/dags 2>&1 | head -n 1 | sed 's/^/    client: /'
fi
if wait_for "$WAIT_S" serves /airflow/dags/example_dag.py fsB; then ev dags_new_server; fi
if wait_for 30 serves /airflow/logs/scheduler.log fsB; then ev logs_new_server; fi
if wait_for 30 serves "$STATIC/server.txt" fsB; then ev static_new_server; fi
val static_after "$(static_mount)"
timeout 5 ls -l /airflow/ | sed 's/^/    /'
val holders_alive "$(holders_alive && echo 1 || echo 0)"
val holder_cwd_readable "$(timeout 5 ls "/proc/$HOLD_DAGS/cwd/" >/dev/null 2>&1 && echo 1 || echo 0)"
# The new mounts are usable for new work: a new log file is written on the new server.
val new_log_written "$(timeout 5 sh -c 'echo after-failover >/airflow/logs/new-task.log' && [ -e /srv/a/airflow/logs/new-task.log ] && echo 1 || echo 0)"
stop_reader
sleep 3 # the daemon's re-probe and its "recovery finished" line
record_kernel after
collect
