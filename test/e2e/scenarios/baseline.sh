# Scenario 5: the old timer script, the same failover with the same holders. Starting its timer
# stops nfs-health-checkd (the unit Conflicts= with it).
# Events: timer_started, failover_start, failover_done, dags_new_server (if it ever recovers).
# shellcheck shell=bash
HLOG=/var/log/nfs-health-check.log
wait_for 90 active || exit 1
timeout 20 ls /airflow/dags /airflow/logs
systemctl start nfs-health-check.timer
ev timer_started
wait_for 30 stopped
val daemon_after_timer_start "$(systemctl is-active "$UNIT")"
# Its lines, not the daemon's JSON ones (both write this file).
wait_for 60 grep -qE '^[A-Z][a-z]{2} .* healthy$' "$HLOG" || exit 1
start_holders
# The old script's first ERROR line after the failover: it has just run its umount -a.
errors_before=$(grep -c ' ERROR: ' "$HLOG")
(until [ "$(grep -c ' ERROR: ' "$HLOG")" -gt "$errors_before" ]; do sleep 0.5; done; ev first_error) &
sleep "$((RANDOM % 5))"
ev failover_start
nfs-failover
ev failover_done
if wait_for "$WAIT_S" serves /airflow/dags/example_dag.py fsB; then ev dags_new_server; fi
val still_stale "$(timeout 5 ls /airflow/dags >/dev/null 2>&1 && echo 0 || echo 1)"
val error_lines "$(($(grep -c ' ERROR: ' "$HLOG") - errors_before))"
timeout 5 ls -l /airflow/ 2>&1 | sed 's/^/    /'
grep -E '^[A-Z][a-z]{2} ' "$HLOG" | tail -n 5 | sed 's/^/    old script: /'
# What the old script's umount said, hidden by its 2>/dev/null:
timeout 10 umount -a -t nfs,nfs4 2>&1 | sed 's/^/    umount -a: /'
journalctl -b -u nfs-health-check.service -o cat --no-pager | grep -vE '^(Starting|Finished|nfs-health-check.service)' | tail -n 5 | sed 's/^/    journal: /'
systemctl stop nfs-health-check.timer
