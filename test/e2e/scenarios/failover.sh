# Scenario 1: a failover while Airflow-like processes hold both mounts. The daemon runs as
# installed, with the default config but for SCHEDULE (when given).
# Events: failover_start, failover_done, dags_new_server, logs_new_server.
# shellcheck shell=bash
wait_for 90 active || exit 1
ev daemon_active
if [ -n "${SCHEDULE:-}" ]; then use_config "schedule: \"$SCHEDULE\"" || exit 1; fi
timeout 20 ls /airflow/dags /airflow/logs
wait_for 90 both_accessible || exit 1
ev healthy
start_holders
# Not in step with the schedule: the failover lands anywhere in the interval.
sleep "$((RANDOM % ${PHASE_MAX_S:-5}))"
ev failover_start
nfs-failover
ev failover_done
timeout 5 ls /airflow/dags 2>&1 | head -n 1 | sed 's/^/    client: /'
if wait_for "$WAIT_S" serves /airflow/dags/example_dag.py fsB; then ev dags_new_server; fi
if wait_for 30 serves /airflow/logs/scheduler.log fsB; then ev logs_new_server; fi
timeout 5 ls -l /airflow/ | sed 's/^/    /'
val holders_alive "$(holders_alive && echo 1 || echo 0)"
val holder_cwd_readable "$(timeout 5 ls "/proc/$HOLD_DAGS/cwd/" >/dev/null 2>&1 && echo 1 || echo 0)"
# The new mounts are usable for new work: a new log file is written on the new server.
val new_log_written "$(timeout 5 sh -c 'echo after-failover >/airflow/logs/new-task.log' && [ -e /srv/a/airflow/logs/new-task.log ] && echo 1 || echo 0)"
sleep 3 # the daemon's re-probe and its "recovery finished" line
collect
