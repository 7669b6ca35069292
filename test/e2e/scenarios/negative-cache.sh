# What autofs' negative cache costs after a silent server returns, and what shortens it. The
# daemon is stopped: the scenario makes each access itself, so the times are autofs' alone.
# Each phase: the server goes silent, the mount is detached (as the daemon's escalation does), an
# access asks autofs for a new mount, which fails (and is cached as failed); the server returns.
# Values: <phase>_fail_s (the failing mount attempt), <phase>_first (an access right after the
# return), <phase>_cost_s (from the failed attempt until an access works).
# shellcheck shell=bash
wait_for 90 active || exit 1
timeout 20 ls /airflow/dags /airflow/logs >/dev/null
systemctl stop "$UNIT"

# poll_back PHASE T: access /airflow/logs every second until it works; cost from T.
poll_back() {
  local t
  t=$(now_s)
  while [ "$(secs "$t")" -lt 150 ]; do
    if timeout 15 ls /airflow/logs/scheduler.log >/dev/null 2>&1; then
      val "$1_cost_s" "$(since "$2")"
      return 0
    fi
    sleep 1
  done
  val "$1_cost_s" never
}
# fail_mount PHASE: the detached mount, the silent server, the failing automount, the return.
# (Detached first: umount stats its target, which on a silent server waits out the lease, ~90 s.)
fail_mount() {
  local t out
  umount -l /airflow/logs
  block
  t=$(us)
  out=$(timeout 60 ls /airflow/logs 2>&1)
  val "$1_fail_s" "$(since "$t")"
  log "failed mount attempt: $out"
  FAILED_AT=$(us)
  unblock
  t=$(us)
  out=$(timeout 30 ls /airflow/logs/scheduler.log 2>&1) && out="ok"
  val "$1_first" "$(since "$t") s: $out"
}

log "== default negative_timeout (autofs.conf: $(grep -E '^[[:space:]]*negative_timeout' /etc/autofs.conf || echo 'unset, 60 s'))"
fail_mount default
poll_back default "$FAILED_AT"

log "== the same, then systemctl reload autofs (what the daemon could do)"
fail_mount reload
systemctl reload autofs
sleep 1
t=$(us)
out=$(timeout 30 ls /airflow/logs/scheduler.log 2>&1) && out="ok"
val reload_after "$(since "$t") s: $out"
poll_back reload "$FAILED_AT"

log "== --negative-timeout=10 on the map (what an operator can set)"
sed -i 's|--timeout=30 --ghost|--timeout=30 --ghost --negative-timeout=10|' /etc/auto.master
systemctl restart autofs
timeout 20 ls /airflow/logs >/dev/null
fail_mount short
poll_back short "$FAILED_AT"
journalctl -b -u autofs -o short-monotonic --no-pager | grep -E 'logs' | grep -E 'fail|negative' | tail -n 8 | sed 's/^/    automount: /'
