# Helpers for the e2e jobs, sourced inside the VM from the share: . /mnt/host/lib.sh
# Times come from bash's $EPOCHREALTIME (no fork: under TCG a fork costs 0.1-0.3 s) and are
# written as events (name, Unix time in µs) that the host lines up with the daemon's log times.
# shellcheck shell=bash
S=/mnt/host
UNIT=nfs-health-checkd
CONF=/etc/nfs-health-checkd/config.yaml
us() { echo "${EPOCHREALTIME/./}"; }
T0=$(us)
since() { local d=$(($(us) - $1)); printf '%d.%02d' $((d / 1000000)) $(((d % 1000000) / 10000)); }
log() { echo "[$(since "$T0")s] $*"; }
# ev NAME: an event happened now. val NAME VALUE: a measured value.
ev() { printf '%s %s\n' "$1" "$(us)" >>"$S/events"; log "event $1"; }
val() { printf '%s %s\n' "$1" "$2" >>"$S/values"; log "value $1 = $2"; }
secs() { echo $((${EPOCHREALTIME%.*} - $1)); } # whole seconds since Unix time $1
now_s() { echo "${EPOCHREALTIME%.*}"; }

main_pid() { systemctl show -P MainPID "$UNIT"; }
# The unit's RuntimeDirectory=: the incident state (state.file), kept when the service stops.
RUN_DIR=/run/nfs-health-checkd
run_dir_mode() { stat -c %a "$RUN_DIR" 2>/dev/null || echo absent; }
present() { if [ -e "$1" ] || [ -L "$1" ]; then echo present; else echo absent; fi; }
metrics() { curl -fsS --max-time 5 http://127.0.0.1:12049/metrics; }
# metric NAME{LABELS}: its value, or nothing.
metric() { metrics 2>/dev/null | awk -v k="$1" '$1 == k { print $2; exit }'; }

# wait_for LIMIT_S CMD...: retry CMD every 0.5 s; fails after LIMIT_S.
wait_for() {
  local lim=$1 t
  shift
  t=$(now_s)
  until "$@" >/dev/null 2>&1; do
    if [ "$(secs "$t")" -ge "$lim" ]; then
      log "still failing after ${lim}s: $*"
      return 1
    fi
    sleep 0.5
  done
}
active() { [ "$(systemctl is-active "$UNIT")" = active ]; }
stopped() { local st; st=$(systemctl is-active "$UNIT"); [ "$st" != active ] && [ "$st" != deactivating ]; }
dags_stuck() { [ "$(metric 'nfs_mount_probe_stuck{mount="/airflow/dags"}')" = 1 ]; }
both_accessible() { # one scrape for both (a fork costs 0.1-0.3 s under TCG)
  [ "$(metrics 2>/dev/null | grep -cxE 'nfs_mount_accessible\{mount="/airflow/(dags|logs)"\} 1')" = 2 ]
}
# use_config YAML: the installed config becomes these overrides of the packaged defaults (as a
# user's file is), validated, then the daemon is restarted. use_config "" restores the default.
use_config() {
  [ -e "$CONF.installed" ] || cp "$CONF" "$CONF.installed"
  if [ -z "$1" ]; then cp "$CONF.installed" "$CONF"; else printf '%s\n' "$1" >"$CONF"; fi
  nfs-health-checkd validate --config "$CONF" >/dev/null || return 1
  systemctl restart "$UNIT"
  wait_for 60 active
  log "config now: $(tr '\n' ' ' <"$CONF" | cut -c1-200)"
}
serves() { # serves PATH TEXT: the file's content names TEXT (fsA / fsB), within 5 s
  local out
  out=$(timeout 5 cat "$1" 2>/dev/null) && [[ "$out" == *"$2"* ]]
}
# Airflow-like holders: a DAG processor with its cwd in /airflow/dags and a DAG file open, and a
# worker with its cwd in /airflow/logs appending to a log through a kept descriptor.
# QUIET=1: the worker keeps its log open without writing, so that nothing touches the mounts.
start_holders() {
  (cd /airflow/dags && exec 3</airflow/dags/example_dag.py && exec sleep infinity) &
  HOLD_DAGS=$!
  if [ "${QUIET:-0}" = 1 ]; then
    (cd /airflow/logs && exec 3>>/airflow/logs/worker.log && exec sleep infinity) &
  else
    (cd /airflow/logs && exec 3>>/airflow/logs/worker.log && while :; do echo "beat $EPOCHREALTIME" >&3 2>/dev/null; sleep 1; done) &
  fi
  HOLD_LOGS=$!
  sleep 1
  log "holders: $HOLD_DAGS cwd $(readlink /proc/$HOLD_DAGS/cwd) fd3 $(readlink /proc/$HOLD_DAGS/fd/3); $HOLD_LOGS cwd $(readlink /proc/$HOLD_LOGS/cwd)"
}
# A recovery has succeeded since the job began (read from /metrics: nothing on the mounts is touched).
recovered() { [ "$(metric 'nfs_health_check_recoveries_total{result="success"}')" -ge 1 ] 2>/dev/null; }
holders_alive() { kill -0 "$HOLD_DAGS" 2>/dev/null && kill -0 "$HOLD_LOGS" 2>/dev/null; }
# block / unblock: the server goes silent (packets to tcp/2049 of the VIP dropped), then back.
block() {
  nft add table inet e2e
  nft add chain inet e2e input '{ type filter hook input priority 0; policy accept; }'
  nft add rule inet e2e input ip daddr 10.99.0.1 tcp dport 2049 drop
}
unblock() { nft delete table inet e2e; }
nfs_mounts() { grep -cE ' /airflow/(dags|logs) nfs4 ' /proc/self/mounts; }
# The static fstab mount (idle, from the same VIP; mounted by systemd at boot, nofail).
STATIC=/mnt/static
static_mounted() { grep -qE "^[^ ]+ $STATIC nfs4 " /proc/self/mounts; }
# Still being mounted by systemd: nofail orders neither the boot nor this job after it.
static_settled() { static_mounted || [ "$(systemctl is-active mnt-static.mount)" != activating ]; }
static_mount() { # what is mounted there, on one line: "SOURCE FSTYPE OPTIONS" or "none"
  local m
  m=$(findmnt -no SOURCE,FSTYPE,OPTIONS --mountpoint "$STATIC" | tail -n 1)
  echo "${m:-none}"
}
# An Airflow-like reader: lists /airflow/dags and reads a DAG file every second; each access is
# bounded (an NFS wait is killable) so that it never hangs the job. stop_reader ends it.
start_reader() {
  (while :; do
    timeout -s KILL 10 ls /airflow/dags >/dev/null 2>&1
    timeout -s KILL 10 cat /airflow/dags/example_dag.py >/dev/null 2>&1
    sleep 1
  done) &
  READER_PID=$!
  log "reader: $READER_PID"
}
stop_reader() {
  if [ -n "${READER_PID:-}" ]; then kill "$READER_PID" 2>/dev/null; fi
  READER_PID=
}
dags_mounted() { grep -qE ' /airflow/dags nfs4 ' /proc/self/mounts; }
# until_tick OFFSET_S [PERIOD_S]: sleep until OFFSET_S after a tick of the daemon's schedule, at
# least a second from now. Its cron ticks at the multiples of PERIOD_S of each minute of local
# time, the multiples of PERIOD_S of the Unix time too (every zone is whole minutes from UTC).
until_tick() {
  local p=$((${2:-30} * 1000000)) now target d
  now=$(us)
  target=$((now / p * p + $1 * 1000000))
  while [ "$target" -lt $((now + 1000000)) ]; do target=$((target + p)); done
  d=$((target - now))
  sleep "$((d / 1000000)).$(printf '%06d' $((d % 1000000)))"
}
# record_kernel NAME: the NFS client's counters as the kernel has them (/proc/self/mountstats, read
# from memory: no RPC) and its NFS/RPC messages so far: mountstats-NAME.txt, dmesg-NAME.txt.
record_kernel() {
  timeout 5 cat /proc/self/mountstats >"$S/mountstats-$1.txt" 2>&1
  dmesg --time-format iso 2>&1 | grep -iE 'nfs|rpc' >"$S/dmesg-$1.txt"
  log "recorded mountstats-$1.txt: $(grep -cE ' with fstype nfs4? ' "$S/mountstats-$1.txt") NFS mounts"
}
# autofs reloads the daemon ran (any result), from /metrics.
reloads() { metrics 2>/dev/null | awk '/^nfs_health_check_autofs_reloads_total/ { n += $2 } END { print n + 0 }'; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$(main_pid)/status" 2>/dev/null; }
# collect: what the host analyses, whatever happened before.
collect() {
  journalctl -b -u "$UNIT" -o cat --no-pager >"$S/daemon.jsonl" 2>&1
  journalctl -b -u "$UNIT" -o json --output-fields=MESSAGE,_PID,__REALTIME_TIMESTAMP --no-pager >"$S/daemon.journal.json" 2>&1
  metrics >"$S/metrics.txt" 2>&1
  systemctl show "$UNIT" >"$S/unit.txt" 2>&1
  grep -E ' /airflow| /mnt/static ' /proc/self/mountinfo >"$S/mountinfo.txt" 2>&1
  true
}
