#!/bin/bash
# The old exporter, per scrape: `timeout 2 ls` each mount, then print its three gauges in the
# Prometheus text format. A scrape takes as long as its slowest mounts, one after the other.
#
#   exporter.sh MOUNT...
echo "# HELP nfs_mount_accessible 1 if the mount answered ls within 2 s"
echo "# TYPE nfs_mount_accessible gauge"
for m in "$@"; do
  if timeout 2 ls "$m" >/dev/null 2>&1; then v=1; else v=0; fi
  echo "nfs_mount_accessible{mount=\"$m\"} $v"
done
echo "# HELP nfs_autofs_status 1 if the automounter is running"
echo "# TYPE nfs_autofs_status gauge"
if pgrep -x automount >/dev/null 2>&1; then echo "nfs_autofs_status 1"; else echo "nfs_autofs_status 0"; fi
echo "# HELP nfs_health_check_recoveries_total recoveries logged by the health check"
echo "# TYPE nfs_health_check_recoveries_total counter"
n=$(grep -c ERROR "${NFS_HEALTH_CHECK_LOG:-/var/log/nfs-health-check.log}" 2>/dev/null)
echo "nfs_health_check_recoveries_total ${n:-0}"
