#!/bin/sh
# nfs-health-checkd, run by the Node.js runtime installed beside it (not the system's node,
# which may be missing or too old). Found through symlinks: /usr/bin/nfs-health-checkd is one.
app=$(dirname -- "$(dirname -- "$(readlink -f -- "$0")")")
exec "$app/node" "$app/app/cli.js" "$@"
