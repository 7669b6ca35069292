# Scenario 2 (and 3 with MOUNT_OPTION=hard): the server goes silent (tcp/2049 to the VIP
# dropped) for OUTAGE_S, then answers again; the daemon on its default config but for SCHEDULE
# (when given). An Airflow-like reader reads /airflow/dags every second from the silence on, and
# goes on after it (its accesses after the recovery ask autofs for a mount, which fails and is
# cached, as a node's do). After the return a client reads a DAG file every half second until the
# new mount serves it. It watches the daemon's /metrics and thread count, and records the
# kernel's NFS counters and messages (record_kernel) healthy, 10, 20 and 30 s into the silence,
# and after it.
# Events: block, dags_inaccessible, dags_stuck, unblock, daemon_accessible, client_accessible.
# shellcheck shell=bash
wait_for 90 active || exit 1
if [ -n "${SCHEDULE:-}" ]; then use_config "schedule: \"$SCHEDULE\"" || exit 1; fi
if [ "${MOUNT_OPTION:-soft}" = hard ]; then
  # The map's soft -> hard, before the first mount of this boot's map.
  systemctl stop "$UNIT"
  sed -i 's/,soft,/,hard,/' /etc/auto.airflow
  umount -a -t nfs4 || true
  systemctl restart autofs
  systemctl start "$UNIT"
  wait_for 60 active || exit 1
fi
timeout 20 ls /airflow/dags /airflow/logs >/dev/null
wait_for 90 both_accessible || exit 1
grep -E ' /airflow/dags ' /proc/self/mounts | sed 's/^/    /'
val mount_hard "$(grep -E ' /airflow/dags nfs4 ' /proc/self/mounts | grep -qw hard && echo 1 || echo 0)"
ev healthy
record_kernel healthy
sleep 1
val threads_before "$(threads)"
ev block
block
tb=$(now_s)
start_reader
max_threads=0
inacc=0 stuck=0 recorded=0
while [ "$(secs "$tb")" -lt "$OUTAGE_S" ]; do
  el=$(secs "$tb")
  for at in 10 20 30; do
    if [ "$el" -ge $at ] && [ $recorded -lt $at ]; then record_kernel "silent-$at"; recorded=$at; fi
  done
  n=$(threads)
  if [ -n "$n" ] && [ "$n" -gt "$max_threads" ]; then max_threads=$n; fi
  m=$(metrics 2>/dev/null)
  if [ $inacc = 0 ] && grep -q '^nfs_mount_accessible{mount="/airflow/dags"} 0' <<<"$m"; then ev dags_inaccessible; inacc=1; fi
  if [ $stuck = 0 ] && grep -q '^nfs_mount_probe_stuck{mount="/airflow/dags"} 1' <<<"$m"; then ev dags_stuck; stuck=1; fi
  sleep 1
done
val threads_max "$max_threads"
val nfs_mounts_at_unblock "$(nfs_mounts)"
val reloads_at_unblock "$(reloads)"
ev unblock
unblock
tu=$(now_s)
daemon=0 client=0
while [ "$(secs "$tu")" -lt "$WAIT_S" ] && { [ $daemon = 0 ] || [ $client = 0 ]; }; do
  if [ $client = 0 ] && serves /airflow/dags/example_dag.py fsA; then ev client_accessible; client=1; fi
  if [ $daemon = 0 ] && both_accessible; then ev daemon_accessible; daemon=1; fi
  sleep 0.5
done
stop_reader
val threads_after "$(threads)"
val reloads_after "$(reloads)"
record_kernel after
journalctl -b -u autofs -o cat --no-pager | grep -E 'dev_ioctl_send_fail|failed to mount|mounted .* on /airflow' | tail -n 12 | sed 's/^/    automount: /'
dmesg | grep -E 'nfs' | tail -n 5 | sed 's/^/    kernel: /'
collect
