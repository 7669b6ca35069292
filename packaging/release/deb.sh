# shellcheck shell=bash
# The .deb, made the Debian way with dpkg-deb: control, conffiles, md5sums and the maintainer
# scripts of debian/, the runtime's library dependencies from dpkg-shlibdeps. No debhelper: there
# is no Debian source package, the tree is built already. Sourced by build.sh.

build_deb() { # TREE OUT.deb
  local tree=$1 out=$2 d=$WORK/deb shlibs size
  cp -a -- "$tree" "$d"
  mkdir -p -- "$d/DEBIAN" "$WORK/shlibdeps/debian"
  for s in postinst prerm postrm; do install -m 0755 "$HERE/debian/$s" "$d/DEBIAN/$s"; done
  install -D -m 0644 "$HERE/debian/lintian-overrides" "$d/usr/share/lintian/overrides/$NAME"
  # Kept on remove, removed on purge, never overwritten when the admin changed them.
  printf '%s\n' "/etc/$NAME/config.yaml" "/etc/logrotate.d/$NAME" >"$d/DEBIAN/conffiles"

  # dpkg-shlibdeps reads a debian/control to know the package; it needs no more than this.
  printf 'Source: %s\n\nPackage: %s\nArchitecture: amd64\n' "$NAME" "$NAME" >"$WORK/shlibdeps/debian/control"
  shlibs=$(cd "$WORK/shlibdeps" && dpkg-shlibdeps -O -e"$d/usr/lib/$NAME/node" 2>"$WORK/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p') ||
    die "dpkg-shlibdeps failed on the runtime: $(cat "$WORK/shlibdeps.log")"
  [ -n "$shlibs" ] || die "dpkg-shlibdeps found no library dependencies for the runtime"
  size=$(du -sk --apparent-size --exclude=DEBIAN -- "$d" | cut -f1)

  cat >"$d/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: amd64
Maintainer: $MAINTAINER
Installed-Size: $size
Depends: $shlibs, mount
Recommends: autofs, nfs-common, logrotate, systemd
Section: admin
Priority: optional
Homepage: https://github.com/example/nfs-health-checkd
Description: keeps NFS-backed autofs mounts usable through a server failover
 nfs-health-checkd probes each configured NFS mount (by default the Airflow
 mounts /airflow/dags and /airflow/logs) with a bounded directory read in a
 thread of its own. When a probe hangs or answers "Stale file handle" it
 unmounts the stale mount with escalating umount steps, so autofs mounts the
 new server afresh, and names the processes left on the detached mount.
 It serves Prometheus metrics on /metrics and logs JSON to the journal.
 .
 The package carries its own Node.js runtime in /usr/lib/nfs-health-checkd:
 the node needs no Node.js, npm or registry access.
CONTROL

  (cd "$d" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' md5sum --) >"$d/DEBIAN/md5sums"
  chmod 0644 -- "$d/DEBIAN/control" "$d/DEBIAN/conffiles" "$d/DEBIAN/md5sums"
  stamp "$d"
  dpkg-deb --root-owner-group -Zxz --build "$d" "$out" >/dev/null
}
