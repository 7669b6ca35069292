# shellcheck shell=bash
# The .rpm, built with rpmbuild (Debian's rpm package will do) from the same tree, with the unit
# in /usr/lib/systemd/system, the %systemd_post/preun/postun scriptlets and a %changelog from
# CHANGELOG.md (changelog.sh). Sourced by build.sh.

build_rpm() { # TREE OUT.rpm
  local tree=$1 out=$2 top=$WORK/rpmbuild
  mkdir -p -- "$top/SPECS" "$top/RPMS"
  {
    sed -e "s|@VERSION@|$VERSION|g" -e "s|@RUNTIME@|$NODE_RUNTIME_VERSION|g" -e "s|@MAINTAINER@|$MAINTAINER|g" "$HERE/rpm/$NAME.spec"
    printf '\n%%changelog\n'
    changelog_rpm "$MAINTAINER" 1 "$RUNTIME_NOTE"
  } >"$top/SPECS/$NAME.spec"
  # Reproducible: file times clamped and the build time taken from SOURCE_DATE_EPOCH, a fixed
  # build host, one-threaded xz (its output depends on the thread count).
  rpmbuild -bb --quiet \
    --define "_topdir $top" \
    --define "_tree $tree" \
    --define "_buildhost reproducible" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_binary_payload w6.xzdio" \
    --target x86_64-linux \
    "$top/SPECS/$NAME.spec" >"$WORK/rpmbuild.log" 2>&1 ||
    die "rpmbuild failed: $(tail -n 20 "$WORK/rpmbuild.log")"
  mv -- "$top/RPMS/x86_64/$NAME-$VERSION-1.x86_64.rpm" "$out"
}
