#!/bin/bash
# The timer-driven script nfs-health-checkd replaces, verbatim: the e2e baseline.
LOG_FILE=/var/log/nfs-health-check.log; MOUNTS=(/airflow/dags /airflow/logs); for m in "${MOUNTS[@]}"; do if ! timeout 5 ls "$m" >/dev/null 2>&1; then echo "$(date) ERROR: $m unavailable" >>$LOG_FILE; umount -a -t nfs,nfs4 2>/dev/null; exit 0; fi; done; echo "$(date) healthy" >> $LOG_FILE
