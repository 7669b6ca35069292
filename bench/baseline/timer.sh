#!/bin/bash
# A systemd timer for nfs-health-check.sh, in bash: runs the script now, then at every wall-clock
# multiple of PERIOD seconds (OnCalendar=*:*:0/PERIOD, AccuracySec=1us). One run at a time: the
# run is waited for in the foreground, so while it is still going (e.g. its `ls` stuck in an
# uninterruptible hang) no tick starts, exactly as a timer does not fire while its service is
# still activating. Ticks missed meanwhile are not caught up (the next one is the next boundary).
#
#   timer.sh PERIOD_S SCRIPT [ARG...]
#
# Sleeps with bash's `read -t` on a pipe that never delivers, not with sleep(1), so the CPU
# time of this process's children (cutime/cstime in /proc/PID/stat) is that of the runs alone.
set -u
PERIOD=$1
shift
period_us=$((PERIOD * 1000000))
exec {never}<> <(:)
while :; do
  bash "$@"
  now=${EPOCHREALTIME/./}
  now=$((10#$now))
  wait_us=$(( (now / period_us + 1) * period_us - now ))
  printf -v secs '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000))
  read -r -t "$secs" -u "$never" _ || true
done
