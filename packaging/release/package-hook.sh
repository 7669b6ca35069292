#!/bin/sh
# What the .deb's and the .rpm's maintainer scripts share, installed as
# /usr/lib/nfs-health-checkd/bin/package-hook:
#
#   package-hook validate   exit 0 when the config the daemon will read is valid for the
#                           version just unpacked; else print its one-line error and exit 78
#   package-hook old-timer  print how to retire the old timer-driven script, when it is there
set -u
NAME=nfs-health-checkd
CONF=/etc/$NAME/config.yaml
OLD_TIMER=nfs-health-check.timer
bin=$(dirname -- "$(readlink -f -- "$0")")

case "${1:-}" in
  validate)
    # The default lives beside the app; /etc/…/config.yaml is only read when it exists.
    if [ -e "$CONF" ]; then set -- --config "$CONF"; else set --; fi
    if err=$("$bin/$NAME" validate "$@" 2>&1 >/dev/null); then exit 0; fi
    printf '%s\n' "$err" >&2
    echo "$NAME: ${CONF} is not valid for this version: the daemon was not restarted; fix the file, then finish the install (dpkg --configure -a, or reinstall the rpm)" >&2
    exit 78
    ;;
  old-timer)
    for f in /etc/systemd/system/$OLD_TIMER /lib/systemd/system/$OLD_TIMER /usr/lib/systemd/system/$OLD_TIMER; do
      if [ -e "$f" ]; then
        echo "note: the old $OLD_TIMER is installed ($f). $NAME.service Conflicts= with it (starting one"
        echo "      stops the other); retire it with: systemctl disable --now $OLD_TIMER"
        exit 0
      fi
    done
    exit 0
    ;;
  *)
    echo "usage: package-hook validate | old-timer" >&2
    exit 64
    ;;
esac
