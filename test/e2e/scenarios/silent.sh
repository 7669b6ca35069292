# Scenario 2 (and 3 with MOUNT_OPTION=hard): the server goes silent (tcp/2049 to the VIP
# dropped) for OUTAGE_S, then answers again. The scenario never touches the mounts during the
# outage but for READ_S (when given): an Airflow-like reader for the first READ_S s of it, while
# the mount is there; every other access is the daemon's. It watches the daemon's /metrics and
# thread count, and records the kernel's NFS counters and messages (record_kernel) healthy, 10,
# 20 and 30 s into the silence, and after it.
# Events: block, dags_inaccessible, dags_stuck, unblock, daemon_accessible, client_accessible.
# shellcheck shell=bash
wait_for 90 active || exit 1
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
if [ "${READ_S:-0}" -gt 0 ]; then start_reader; fi
max_threads=0
inacc=0 stuck=0 recorded=0
while [ "$(secs "$tb")" -lt "$OUTAGE_S" ]; do
  el=$(secs "$tb")
  for at in 10 20 30; do
    if [ "$el" -ge $at ] && [ $recorded -lt $at ]; then record_kernel "silent-$at"; recorded=$at; fi
  done
  if [ -n "${READER_PID:-}" ] && { [ "$el" -ge "${READ_S:-0}" ] || ! dags_mounted; }; then
    log "reader stopped after ${el}s of silence ($(dags_mounted && echo mounted || echo 'mount gone'))"
    stop_reader
  fi
  n=$(threads)
  if [ -n "$n" ] && [ "$n" -gt "$max_threads" ]; then max_threads=$n; fi
  m=$(metrics 2>/dev/null)
  if [ $inacc = 0 ] && grep -q '^nfs_mount_accessible{mount="/airflow/dags"} 0' <<<"$m"; then ev dags_inaccessible; inacc=1; fi
  if [ $stuck = 0 ] && grep -q '^nfs_mount_probe_stuck{mount="/airflow/dags"} 1' <<<"$m"; then ev dags_stuck; stuck=1; fi
  sleep 1
done
val threads_max "$max_threads"
val nfs_mounts_at_unblock "$(nfs_mounts)"
ev unblock
unblock
if wait_for "$WAIT_S" both_accessible; then ev daemon_accessible; fi
if wait_for 30 serves /airflow/dags/example_dag.py fsA; then ev client_accessible; fi
val threads_after "$(threads)"
record_kernel after
journalctl -b -u autofs -o cat --no-pager | grep -E 'dev_ioctl_send_fail|failed to mount|mounted .* on /airflow' | tail -n 12 | sed 's/^/    automount: /'
dmesg | grep -E 'nfs' | tail -n 5 | sed 's/^/    kernel: /'
collect
