#!/bin/bash
# The seed nfs-health-check.sh, made parameterisable for the benchmark (bench/). It does what the
# old script did, verbatim in spirit: `timeout 5 ls` each mount in turn; at the first one that fails,
# log an ERROR line, run `umount -a -t nfs,nfs4` and stop; otherwise log that all are healthy.
#
#   nfs-health-check.sh [-l LOG] [-t TIMEOUT_S] [-u "UMOUNT COMMAND"] MOUNT...
#
# Defaults: LOG /var/log/nfs-health-check.log, TIMEOUT 5, UMOUNT "umount -a -t nfs,nfs4".
# The bench passes -u "umount -a -t fuse.faultfs" (or "true" where it must not unmount).
LOG=/var/log/nfs-health-check.log
TIMEOUT=5
UMOUNT_CMD="umount -a -t nfs,nfs4"
while getopts "l:t:u:" opt; do
  case $opt in
    l) LOG=$OPTARG ;;
    t) TIMEOUT=$OPTARG ;;
    u) UMOUNT_CMD=$OPTARG ;;
    *) echo "usage: $0 [-l LOG] [-t TIMEOUT_S] [-u UMOUNT_CMD] MOUNT..." >&2; exit 64 ;;
  esac
done
shift $((OPTIND - 1))

for m in "$@"; do
  if ! timeout "$TIMEOUT" ls "$m" >/dev/null 2>&1; then
    echo "$(date +%s.%N) ERROR: $m unavailable" >> "$LOG"
    $UMOUNT_CMD 2>/dev/null
    exit 0
  fi
done
echo "$(date +%s.%N) all mounts healthy" >> "$LOG"
