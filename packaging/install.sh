#!/usr/bin/env bash
# Installs (or upgrades, or uninstalls) nfs-health-checkd from an unpacked release tarball, which
# carries its own Node.js runtime (no node, npm or network needed on this machine):
#
#   tar -xzf nfs-health-checkd-VERSION-linux-x64.tar.gz
#   sudo nfs-health-checkd-VERSION-linux-x64/install.sh
#
# or from a built source tree, on the system's Node.js:
#
#   npm ci && npm run build && sudo packaging/install.sh
#
# Run it again to upgrade. See --help, and docs/install.md ("From the tarball, or from a checkout",
# and "Migrating from the timer script").
set -euo pipefail

readonly NAME=nfs-health-checkd
readonly UNIT=nfs-health-checkd.service
readonly OLD_TIMER=nfs-health-check.timer
readonly OLD_SERVICE=nfs-health-check.service
readonly OLD_SCRIPT=/usr/local/bin/nfs-health-check.sh
readonly NODE_MIN_MAJOR=20 NODE_MIN_MINOR=19
# What systemd gives a system service: the `node` the daemon's `#!/usr/bin/env -S node …` finds.
readonly SYSTEMD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly ME=install.sh

usage() {
  cat <<EOF
Usage: sudo $0 [--replace-timer]     install, or upgrade in place
       sudo $0 --uninstall           remove (keeps config and logs)
       $0 --help

From a release tarball: installs its app directory (the daemon bundled, with its own Node.js
runtime: nothing else is needed) in \$APPDIR. From a checkout (build it first: npm ci && npm
run build): installs the built app with its production node_modules (copied from this tree
and pruned offline: no registry access) in \$APPDIR. Either way it links \$PREFIX/bin/$NAME
to its CLI, and installs
the systemd unit, the logrotate file and, if absent, /etc/$NAME/config.yaml (an existing one
is kept; the new default goes beside it as config.yaml.new). The config is validated with the
new CLI before anything is replaced. Then systemctl daemon-reload, and on upgrade try-restart.

  --replace-timer  also disable and stop the old $OLD_TIMER (its files are kept)
  --uninstall      stop, disable and remove the app, the link, the unit, the logrotate file and
                   the incident state in /run/$NAME; keep /etc/$NAME and the log files
  --help           this text

Environment:
  DESTDIR  staging root, e.g. for building a package (default: empty = this machine; then
           root is required and systemd is driven). From a checkout, Node.js is only
           checked when empty.
  PREFIX   the link goes to \$PREFIX/bin (default /usr/local)
  APPDIR   the app directory (default /opt/$NAME)
EOF
}

die() {
  echo "$ME: error: $*" >&2
  exit 1
}

say() { echo "$*"; }

# ---------------------------------------------------------------------------------------------
# Arguments and environment

mode=install
replace_timer=0
for arg in "$@"; do
  case "$arg" in
    --uninstall) mode=uninstall ;;
    --replace-timer) replace_timer=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "$ME: unknown argument: $arg (see --help)" >&2
      exit 64
      ;;
  esac
done
if [ "$mode" = uninstall ] && [ "$replace_timer" = 1 ]; then
  echo "$ME: --replace-timer is for installing, not with --uninstall" >&2
  exit 64
fi

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
APPDIR=${APPDIR:-/opt/$NAME}

# Paths end up in a unit file and in rm -rf: absolute, plain characters, no trailing slash.
check_path() { # NAME VALUE
  case "$2" in
    /*) ;;
    *) die "$1 must be an absolute path, got '$2'" ;;
  esac
  [[ "$2" =~ ^[A-Za-z0-9._/+-]+$ ]] || die "$1 may only contain letters, digits and . _ / + -, got '$2'"
  [[ "$2" != */ ]] || die "$1 must not end with /, got '$2'"
  [[ "/$2/" != */../* && "/$2/" != */./* ]] || die "$1 must not contain . or .. components, got '$2'"
}
if [ -n "$DESTDIR" ]; then
  [[ "$DESTDIR" == /* ]] || DESTDIR="$PWD/$DESTDIR"
  while [[ "$DESTDIR" == */ ]]; do DESTDIR=${DESTDIR%/}; done
  [ -n "$DESTDIR" ] || die "DESTDIR=/ is this machine: leave DESTDIR empty instead"
  check_path DESTDIR "$DESTDIR"
fi
check_path PREFIX "$PREFIX"
check_path APPDIR "$APPDIR"
[ "$PREFIX" != / ] || die "PREFIX must not be /"
case "$APPDIR" in
  / | /usr | /usr/local | /opt | /etc | /var | /bin | /lib | /home | /root)
    die "APPDIR must be a directory of its own, not '$APPDIR'"
    ;;
esac

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root to install on this machine (sudo $0), or set DESTDIR to stage elsewhere"
fi

# The tree this script belongs to, whatever the cwd: a release tarball's top (install.sh beside
# usr/lib/nfs-health-checkd/ with its runtime), or a checkout's packaging/.
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
if [ -e "$script_dir/usr/lib/$NAME/node" ]; then
  from=release
  ROOT=$script_dir
  RELEASE_APP=$ROOT/usr/lib/$NAME
else
  from=checkout
  ROOT=$(dirname -- "$script_dir")
fi

APP="$DESTDIR$APPDIR"
APP_NEW="$APP.new"
APP_OLD="$APP.old"
LINK="$DESTDIR$PREFIX/bin/$NAME"
# What the link points to: the runtime's wrapper, or the checkout's CLI (run by the system's node).
CHECKOUT_TARGET="$APPDIR/dist/src/cli.js"
RELEASE_TARGET="$APPDIR/bin/$NAME"
if [ "$from" = release ]; then LINK_TARGET=$RELEASE_TARGET; else LINK_TARGET=$CHECKOUT_TARGET; fi
UNIT_DIR="$DESTDIR/etc/systemd/system"
UNIT_FILE="$UNIT_DIR/$UNIT"
LOGROTATE_FILE="$DESTDIR/etc/logrotate.d/$NAME"
CONF_DIR="$DESTDIR/etc/$NAME"
CONF="$CONF_DIR/config.yaml"
# The unit's RuntimeDirectory=: the incident state, kept when the service stops.
RUN_DIR="$DESTDIR/run/$NAME"

# systemd is driven only for this machine, and only when it is the init system.
systemd_live=0
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then systemd_live=1; fi

umask 022

# rm -rf only on a path that is one of ours: never empty, never a bare top-level directory.
rm_tree() { # PATH
  local p=$1
  [ -n "$p" ] || die "internal: refusing to remove an empty path"
  case "$p" in
    "$APP" | "$APP_NEW" | "$APP_OLD") ;;
    *) die "internal: refusing to remove '$p'" ;;
  esac
  [[ "$p" == /?*/?* ]] || die "internal: refusing to remove '$p'"
  rm -rf -- "$p"
}

# An app directory this script may replace or remove: absent, empty, or one of ours.
is_ours() { # DIR
  [ -d "$1" ] || return 1
  if [ -z "$(ls -A -- "$1")" ]; then return 0; fi
  [ -f "$1/package.json" ] && grep -q "\"name\": *\"$NAME\"" "$1/package.json"
}

version_of() { # DIR
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1/package.json" 2>/dev/null | head -n 1
}

# Installs FILE's content at DEST (mode 0644) through a temporary file in DEST's directory, so
# readers never see half a file and the new file gets the directory's SELinux context.
put_file() { # SRC DEST
  local src=$1 dest=$2 tmp
  mkdir -p -- "$(dirname -- "$dest")"
  if [ -f "$dest" ] && cmp -s -- "$src" "$dest"; then
    say "unchanged $dest"
    return
  fi
  tmp="$dest.tmp.$$"
  cp -- "$src" "$tmp"
  chmod 0644 -- "$tmp"
  mv -f -- "$tmp" "$dest"
  say "installed $dest"
}

# Where the old timer-driven script's files are (target paths), and whether it is there at all.
old_timer_files=()
old_timer_found=0
find_old_timer() {
  local d f
  old_timer_files=()
  for d in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    for f in "$d/$OLD_TIMER" "$d/$OLD_SERVICE"; do
      if [ -e "$DESTDIR$f" ] || [ -L "$DESTDIR$f" ]; then
        # /lib is /usr/lib on merged-/usr systems: name each file once.
        if [ "$d" = /usr/lib/systemd/system ] && [ "$DESTDIR/lib/systemd/system/${f##*/}" -ef "$DESTDIR$f" ]; then continue; fi
        old_timer_files+=("$f")
      fi
    done
  done
  if [ -e "$DESTDIR$OLD_SCRIPT" ]; then old_timer_files+=("$OLD_SCRIPT"); fi
  old_timer_found=0
  local x
  for x in "${old_timer_files[@]}"; do
    if [[ "$x" == */"$OLD_TIMER" ]]; then old_timer_found=1; fi
  done
  if [ "$old_timer_found" = 0 ] && [ "$systemd_live" = 1 ] &&
    systemctl list-unit-files --no-legend "$OLD_TIMER" 2>/dev/null | grep -q "^$OLD_TIMER"; then
    old_timer_found=1
  fi
}

# Enablement symlinks of UNIT under $DESTDIR/etc/systemd/system/*.wants (and *.requires).
wants_links() { # UNIT
  local l
  for l in "$UNIT_DIR"/*.wants/"$1" "$UNIT_DIR"/*.requires/"$1"; do
    if [ -L "$l" ]; then printf '%s\n' "$l"; fi
  done
}

# ---------------------------------------------------------------------------------------------
# Uninstall

if [ "$mode" = uninstall ]; then
  if [ -e "$APP" ] && ! is_ours "$APP"; then
    die "$APP is not an $NAME install (no package.json named $NAME): not removing it"
  fi
  if [ "$systemd_live" = 1 ]; then
    if systemctl list-unit-files --no-legend "$UNIT" 2>/dev/null | grep -q "^$UNIT"; then
      systemctl disable --now "$UNIT" >/dev/null 2>&1 || die "systemctl disable --now $UNIT failed"
      say "stopped and disabled $UNIT"
    fi
  fi
  while IFS= read -r l; do
    rm -f -- "$l"
    say "removed $l"
  done < <(wants_links "$UNIT")

  for d in "$APP_NEW" "$APP_OLD"; do
    if [ -d "$d" ] && is_ours "$d"; then
      rm_tree "$d"
      say "removed $d"
    fi
  done
  if [ -d "$APP" ]; then
    rm_tree "$APP"
    say "removed $APP"
  else
    say "absent $APP"
  fi

  if [ -L "$LINK" ]; then
    # Either kind of install, whichever kind of tree this script came with.
    link_now=$(readlink -- "$LINK")
    if [ "$link_now" = "$CHECKOUT_TARGET" ] || [ "$link_now" = "$RELEASE_TARGET" ]; then
      rm -f -- "$LINK"
      say "removed $LINK"
    else
      say "kept $LINK (points to $link_now, not to $LINK_TARGET)"
    fi
  elif [ -e "$LINK" ]; then
    say "kept $LINK (not a symlink: not installed by this script)"
  else
    say "absent $LINK"
  fi

  for f in "$UNIT_FILE" "$LOGROTATE_FILE"; do
    if [ -e "$f" ]; then
      rm -f -- "$f"
      say "removed $f"
    else
      say "absent $f"
    fi
  done
  if [ -d "$UNIT_FILE.d" ]; then say "kept $UNIT_FILE.d (drop-ins: remove by hand if unwanted)"; fi
  # The service is stopped by now: nothing writes there any more.
  if [ -e "$RUN_DIR" ]; then
    rm -rf -- "$RUN_DIR"
    say "removed $RUN_DIR"
  else
    say "absent $RUN_DIR"
  fi

  if [ "$systemd_live" = 1 ]; then
    systemctl daemon-reload
    say "reloaded systemd"
  fi

  if [ -d "$CONF_DIR" ]; then say "kept $CONF_DIR (config)"; fi
  shopt -s nullglob
  logs=("$DESTDIR"/var/log/nfs-health-check.log*)
  shopt -u nullglob
  if [ "${#logs[@]}" -gt 0 ]; then say "kept $DESTDIR/var/log/nfs-health-check.log* (${#logs[@]} files)"; fi
  find_old_timer
  if [ "$old_timer_found" = 1 ]; then
    say "note: the old $OLD_TIMER is still installed; to bring it back: systemctl enable --now $OLD_TIMER"
  fi
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Install: checks

if [ "$from" = release ]; then
  for f in node app/cli.js "bin/$NAME" package.json config/default.yaml; do
    [ -e "$RELEASE_APP/$f" ] || die "$RELEASE_APP/$f is missing: not a whole $NAME release tree"
  done
  for f in "lib/systemd/system/$UNIT" "etc/logrotate.d/$NAME" README.md docs/recovery.md; do
    [ -f "$ROOT/$f" ] || die "$ROOT/$f is missing: not a whole $NAME release tree"
  done
  grep -q "\"name\": *\"$NAME\"" "$RELEASE_APP/package.json" || die "$RELEASE_APP/package.json is not $NAME's"
  # The runtime is built for x86_64 Linux with glibc >= 2.28: find out here, not at systemctl start.
  if ! runtime_err=$("$RELEASE_APP/bin/$NAME" --version 2>&1 >/dev/null); then
    die "the Node.js runtime in $RELEASE_APP does not run on this machine: ${runtime_err:-no output}"
  fi
else
  [ -f "$ROOT/dist/src/cli.js" ] ||
    die "$ROOT is not built (no dist/src/cli.js): run 'npm ci && npm run build' there first"
  for f in package.json package-lock.json; do
    [ -f "$ROOT/$f" ] || die "$ROOT has no $f: not an $NAME source tree"
  done
  grep -q "\"name\": *\"$NAME\"" "$ROOT/package.json" || die "$ROOT/package.json is not $NAME's"
  [ -d "$ROOT/node_modules" ] || die "$ROOT has no node_modules: run 'npm ci' there first"
  for f in config/default.yaml packaging/systemd/$UNIT packaging/logrotate/$NAME README.md docs/recovery.md; do
    [ -f "$ROOT/$f" ] || die "$ROOT/$f is missing"
  done

  node_ok() { # NODE-VERSION (x.y.z)
    local major minor rest
    IFS=. read -r major minor rest <<<"$1"
    [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
    [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }
  }
  if [ -z "$DESTDIR" ]; then
    command -v node >/dev/null ||
      die "node is not on PATH: install Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR system-wide first"
    node_version=$(node -p 'process.versions.node')
    node_ok "$node_version" ||
      die "node $node_version is too old: $NAME needs Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR"
    # The daemon runs under systemd's PATH, not this shell's (nvm, a user's ~/bin…).
    systemd_node=$(PATH=$SYSTEMD_PATH command -v node || true)
    if [ -z "$systemd_node" ]; then
      echo "$ME: warning: no node in systemd's PATH ($SYSTEMD_PATH): the service will not start; install Node.js system-wide (e.g. /usr/bin/node)" >&2
    elif ! node_ok "$(PATH=$SYSTEMD_PATH node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)"; then
      echo "$ME: warning: $systemd_node (the node systemd will run) is older than $NODE_MIN_MAJOR.$NODE_MIN_MINOR: the service will not start" >&2
    fi
  else
    # Staging still runs the new CLI (config validation) and npm (prune), with the build host's node.
    command -v node >/dev/null || die "node is not on PATH: staging needs the Node.js the tree was built with"
  fi
  command -v npm >/dev/null || die "npm is not on PATH: it prunes the devDependencies (offline)"

  if [ -n "$(find "$ROOT/src" -name '*.ts' -newer "$ROOT/dist/src/cli.js" -print -quit 2>/dev/null)" ]; then
    echo "$ME: warning: src/ has changes newer than dist/: installing the last build (run 'npm run build' to include them)" >&2
  fi
fi

if [ -e "$APP" ] && ! is_ours "$APP"; then
  die "$APP exists and is not an $NAME install (no package.json named $NAME): not replacing it"
fi
upgrade=0
old_version=
if [ -d "$APP" ] && [ -f "$APP/package.json" ]; then
  upgrade=1
  old_version=$(version_of "$APP")
fi
if [ "$from" = release ]; then new_version=$(version_of "$RELEASE_APP"); else new_version=$(version_of "$ROOT"); fi

# ---------------------------------------------------------------------------------------------
# Install: stage the new app directory beside the old one

for d in "$APP_NEW" "$APP_OLD"; do
  if [ -e "$d" ]; then
    is_ours "$d" || die "$d exists and is not an $NAME install: not removing it"
    rm_tree "$d" # left by an interrupted run
  fi
done
cleanup_new() { if [ -d "$APP_NEW" ]; then rm_tree "$APP_NEW"; fi; }
trap cleanup_new EXIT

if [ "$from" = release ]; then
  # The app directory as the packages install it, plus what the steps below take from a
  # checkout's packaging/ (the unit and the logrotate file), the README the unit points to and
  # the docs/ it links to.
  mkdir -p -- "$APP_NEW/packaging/systemd" "$APP_NEW/packaging/logrotate"
  cp -R -- "$RELEASE_APP/." "$APP_NEW/"
  cp -- "$ROOT/lib/systemd/system/$UNIT" "$APP_NEW/packaging/systemd/$UNIT"
  cp -- "$ROOT/etc/logrotate.d/$NAME" "$APP_NEW/packaging/logrotate/$NAME"
  cp -- "$ROOT/README.md" "$APP_NEW/README.md"
  cp -R -- "$ROOT/docs" "$APP_NEW/docs"
  cp -- "$ROOT/install.sh" "$APP_NEW/packaging/install.sh" # for --uninstall, as from a checkout
  chmod -R u+rwX,go+rX,go-w -- "$APP_NEW"
else
  mkdir -p -- "$APP_NEW/dist" "$APP_NEW/config"
  # cp -R, not -a: files are owned by whoever installs (root), never by the tree's owner.
  cp -R -- "$ROOT/dist/src" "$APP_NEW/dist/src"
  find "$APP_NEW/dist/src" -name '*.map' -type f -delete # they point at src/*.ts, not installed
  cp -- "$ROOT/package.json" "$ROOT/package-lock.json" "$ROOT/README.md" "$APP_NEW/"
  cp -- "$ROOT/config/default.yaml" "$APP_NEW/config/"
  cp -R -- "$ROOT/docs" "$APP_NEW/docs"
  cp -R -- "$ROOT/packaging" "$APP_NEW/packaging"
  cp -R -- "$ROOT/node_modules" "$APP_NEW/node_modules"
  rm -rf -- "$APP_NEW/node_modules/.vite" "$APP_NEW/node_modules/.vite-temp" "$APP_NEW/node_modules/.cache"
  # Production dependencies only, from the copy and the lockfile alone: nothing is downloaded.
  # No log files and a throw-away cache, so root's npm never leaves files in a sudo user's ~/.npm.
  if ! prune_out=$(cd "$APP_NEW" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund \
    --no-update-notifier --logs-max=0 --cache="$APP_NEW/.npm-cache" --loglevel=error 2>&1); then
    printf '%s\n' "$prune_out" >&2
    die "npm prune --omit=dev failed in $APP_NEW"
  fi
  rm -rf -- "$APP_NEW/.npm-cache"
  find "$APP_NEW/node_modules" -mindepth 1 -maxdepth 1 -type d -name '@*' -empty -delete
  # Every dependency present, no devDependency left.
  if ! dep_check=$(node -e '
    const fs = require("node:fs"), path = require("node:path");
    const dir = process.argv[1];
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    const has = (n) => fs.existsSync(path.join(dir, "node_modules", n, "package.json"));
    const missing = Object.keys(pkg.dependencies ?? {}).filter((n) => !has(n));
    const dev = Object.keys(pkg.devDependencies ?? {}).filter(has);
    if (missing.length) { console.log("missing dependencies: " + missing.join(", ") + " (run npm ci)"); process.exit(1); }
    if (dev.length) { console.log("devDependencies left after prune: " + dev.join(", ")); process.exit(1); }
  ' "$APP_NEW" 2>&1); then
    die "$dep_check"
  fi
  chmod -R u+rwX,go+rX,go-w -- "$APP_NEW"
  chmod 0755 -- "$APP_NEW/dist/src/cli.js"
fi

# ---------------------------------------------------------------------------------------------
# Install: validate the config the daemon will read, with the new CLI, before replacing anything

if [ -f "$CONF" ]; then conf_to_check=$CONF; else conf_to_check=$APP_NEW/config/default.yaml; fi
set +e
if [ "$from" = release ]; then
  validate_err=$("$APP_NEW/bin/$NAME" validate --config "$conf_to_check" 2>&1 >/dev/null)
else
  validate_err=$(node "$APP_NEW/dist/src/cli.js" validate --config "$conf_to_check" 2>&1 >/dev/null)
fi
validate_status=$?
set -e
if [ "$validate_status" -ne 0 ]; then
  if [ -n "$validate_err" ]; then printf '%s\n' "$validate_err" >&2; fi
  if [ "$validate_status" -eq 78 ]; then
    die "$conf_to_check is invalid for $NAME $new_version: nothing was installed or changed; fix it and run again"
  fi
  die "$NAME validate exited $validate_status on $conf_to_check: nothing was installed or changed"
fi

# ---------------------------------------------------------------------------------------------
# Install: swap in the new app directory, then the link, unit, logrotate file and config

if [ -d "$APP" ]; then
  mv -- "$APP" "$APP_OLD"
  mv -- "$APP_NEW" "$APP"
  rm_tree "$APP_OLD"
else
  mv -- "$APP_NEW" "$APP"
fi
trap - EXIT
if [ "$upgrade" = 1 ]; then
  say "installed $APP ($NAME $new_version, replacing ${old_version:-an unknown version})"
else
  say "installed $APP ($NAME $new_version)"
fi

mkdir -p -- "$(dirname -- "$LINK")"
if [ -L "$LINK" ] && [ "$(readlink -- "$LINK")" = "$LINK_TARGET" ]; then
  say "unchanged $LINK -> $LINK_TARGET"
else
  ln -sfn -- "$LINK_TARGET" "$LINK.tmp.$$"
  mv -Tf -- "$LINK.tmp.$$" "$LINK"
  say "installed $LINK -> $LINK_TARGET"
fi

unit_tmp=$(mktemp)
trap 'rm -f -- "$unit_tmp"' EXIT
# A checkout's unit says /usr/local/bin, a release's (the packages') /usr/bin.
sed -E -e "s|^ExecStart=/usr/(local/)?bin/$NAME\$|ExecStart=$PREFIX/bin/$NAME|" \
  -e "s|^Documentation=.*\$|Documentation=file:$APPDIR/README.md|" \
  "$APP/packaging/systemd/$UNIT" >"$unit_tmp"
grep -qx "ExecStart=$PREFIX/bin/$NAME" "$unit_tmp" ||
  die "$APP/packaging/systemd/$UNIT has no 'ExecStart=/usr/local/bin/$NAME' or 'ExecStart=/usr/bin/$NAME' line to point at $PREFIX/bin"
put_file "$unit_tmp" "$UNIT_FILE"
put_file "$APP/packaging/logrotate/$NAME" "$LOGROTATE_FILE"

mkdir -p -- "$CONF_DIR"
if [ ! -e "$CONF" ]; then
  cp -- "$APP/config/default.yaml" "$CONF.tmp.$$"
  chmod 0644 -- "$CONF.tmp.$$"
  mv -f -- "$CONF.tmp.$$" "$CONF"
  say "installed $CONF (the packaged default; edit it, then systemctl restart $NAME)"
elif cmp -s -- "$APP/config/default.yaml" "$CONF"; then
  say "kept $CONF (same as the packaged default)"
else
  cp -- "$APP/config/default.yaml" "$CONF.new.tmp.$$"
  chmod 0644 -- "$CONF.new.tmp.$$"
  mv -f -- "$CONF.new.tmp.$$" "$CONF.new"
  say "kept $CONF (yours; valid for $new_version)"
  say "installed $CONF.new (the new packaged default, for comparison: diff $CONF.new $CONF)"
fi

if [ -z "$DESTDIR" ] && command -v selinuxenabled >/dev/null && selinuxenabled && command -v restorecon >/dev/null; then
  restorecon -R -- "$APP" "$LINK" "$UNIT_FILE" "$LOGROTATE_FILE" "$CONF_DIR" || true
fi

# ---------------------------------------------------------------------------------------------
# Install: systemd and the old timer

if [ "$systemd_live" = 1 ]; then
  systemctl daemon-reload
  say "reloaded systemd"
fi

find_old_timer
if [ "$old_timer_found" = 1 ]; then
  if [ "$replace_timer" = 1 ]; then
    if [ "$systemd_live" = 1 ]; then
      systemctl disable --now "$OLD_TIMER" >/dev/null 2>&1 || die "systemctl disable --now $OLD_TIMER failed"
      say "stopped and disabled $OLD_TIMER"
    else
      removed_any=0
      while IFS= read -r l; do
        rm -f -- "$l"
        say "removed $l"
        removed_any=1
      done < <(wants_links "$OLD_TIMER")
      [ "$removed_any" = 1 ] || say "unchanged $OLD_TIMER (not enabled under $UNIT_DIR)"
    fi
    if [ "${#old_timer_files[@]}" -gt 0 ]; then
      say "kept ${old_timer_files[*]} (the old script: rm them once $NAME is proven; systemctl enable --now $OLD_TIMER brings it back)"
    fi
  else
    say "note: the old $OLD_TIMER is installed${old_timer_files[*]:+ (${old_timer_files[*]})}."
    say "      $UNIT Conflicts= with it (starting one stops the other), but this install leaves it as it is: retire it with"
    say "        systemctl disable --now $OLD_TIMER"
    if [ "${#old_timer_files[@]}" -gt 0 ]; then
      say "        rm -f ${old_timer_files[*]} && systemctl daemon-reload"
    fi
    say "      or run this script again with --replace-timer (disables it, keeps its files)."
  fi
elif [ "$replace_timer" = 1 ]; then
  say "unchanged: no old $OLD_TIMER found, nothing to replace"
fi

if [ "$systemd_live" = 1 ]; then
  if [ "$upgrade" = 1 ]; then
    if systemctl is-active --quiet "$UNIT"; then
      systemctl try-restart "$UNIT"
      say "restarted $UNIT"
    fi
  fi
  if ! systemctl is-enabled --quiet "$UNIT" 2>/dev/null; then
    say "next: systemctl enable --now $NAME"
  fi
elif [ -z "$DESTDIR" ]; then
  say "systemd is not running here: start $PREFIX/bin/$NAME by other means"
fi
