#!/bin/sh
# nfs-health-checkd, run by the Node.js runtime installed beside it (not the system's node,
# which may be missing or too old). Found through symlinks: /usr/bin/nfs-health-checkd is one.
app=$(dirname -- "$(dirname -- "$(readlink -f -- "$0")")")
# --lite-mode: V8 without its optimizing compilers. The daemon runs little code, and rarely: on
# this runtime it keeps ~9 MB less resident, for about 5 % more CPU per probe round.
# --no-node-snapshot: the probe thread is built without Node's startup snapshot, whose pages
# each thread otherwise reads in (~8 MB resident on this runtime), for ~70 ms more at start.
# MALLOC_ARENA_MAX=1: glibc's malloc keeps one arena for every thread, not one per thread (the
# probe threads allocate little): ~1 MB less resident. A value in the environment (the unit's
# Environment=, a drop-in) wins. The checkout's #! line (src/cli.ts), the Dockerfile and npm start
# (package.json) carry the same: test/packaging/runtime-flags.test.ts keeps them equal.
: "${MALLOC_ARENA_MAX:=1}"
export MALLOC_ARENA_MAX
exec "$app/node" --lite-mode --no-node-snapshot "$app/app/cli.js" "$@"
