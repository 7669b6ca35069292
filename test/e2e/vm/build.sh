#!/bin/bash
# Builds the e2e VM image (Debian bookworm: kernel NFS server and client, autofs, systemd; no
# Node.js: the install boot puts the .deb, which carries its own runtime, on a node without one)
# and caches it under $NHC_E2E_CACHE, keyed by its inputs: this script, guest/ and the apt
# mirror. A cache hit takes a second.
#
#   sudo test/e2e/vm/build.sh        prints the image directory on its last line
#
# Exit 77 when this machine cannot build it (not root, no apt source for bookworm/main, no
# qemu and no apt-get to install it): the caller skips with the printed reason.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${NHC_E2E_CACHE:-/var/tmp/nfs-health-checkd-e2e}
skip() { echo "build.sh: cannot build the VM here: $*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || skip "not root (debootstrap, chroot and loop-free mkfs need it)"
[ "$(uname -m)" = x86_64 ] || skip "not x86_64 (the image and qemu-system-x86_64 are amd64)"
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v debootstrap >/dev/null ||
  ! command -v qemu-img >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
  command -v apt-get >/dev/null || skip "qemu-system-x86_64, qemu-img, debootstrap or mkfs.ext4 missing, and no apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-system-x86 qemu-utils debootstrap e2fsprogs >/dev/null
fi
# The mirror this machine's apt already uses, never a hard-coded one.
MIRROR=${MIRROR:-$(apt-cache policy 2>/dev/null | awk '$3=="bookworm/main" && $2 ~ /^(https?|file):/ {print $2; exit}')}
[ -n "$MIRROR" ] || skip "no bookworm/main source in this machine's apt configuration"

AIRFLOW_UID=50000
PKGS="linux-image-amd64 initramfs-tools nfs-kernel-server nfs-common autofs iproute2 nftables
      logrotate procps util-linux psmisc libstdc++6 kmod udev curl ca-certificates openssl"

# Inputs -> key. The debootstrapped rootfs has a key of its own (packages and mirror), so a
# change to guest/ rebuilds in seconds.
base_key=$(printf '%s\n' "$PKGS" "$MIRROR" | sha256sum | cut -c1-12)
key=$( {
  printf '%s\n' "$base_key"
  cat "$0"
  (cd "$HERE/guest" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
} | sha256sum | cut -c1-12)
OUT=$CACHE/image-$key
if [ -e "$OUT/done" ]; then
  echo "build.sh: cached image $OUT"
  echo "$OUT"
  exit 0
fi
mkdir -p "$CACHE"
# The rootfs, its copy and the 3 GiB sparse image take about 3.5 GiB while building.
free_kib=$(df -Pk "$CACHE" | awk 'NR == 2 { print $4 }')
[ "$free_kib" -ge $((5 * 1024 * 1024)) ] || skip "only $((free_kib / 1024)) MiB free under $CACHE; the build needs 5 GiB"
echo "build.sh: building image $key (mirror $MIRROR)" >&2

ROOT=$CACHE/rootfs-$base_key
cleanup() {
  for m in dev/pts dev proc sys; do if mountpoint -q "$ROOT/$m"; then umount -l "$ROOT/$m"; fi; done
}
trap cleanup EXIT
if [ ! -e "$ROOT.done" ]; then
  rm -rf "$ROOT"
  debootstrap --variant=minbase --include=systemd-sysv,udev,kmod bookworm "$ROOT" "$MIRROR" >&2
  mount --bind /dev "$ROOT/dev"; mount --bind /dev/pts "$ROOT/dev/pts"
  mount -t proc proc "$ROOT/proc"; mount -t sysfs sys "$ROOT/sys"
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  # shellcheck disable=SC2086
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PKGS >&2
  rm -f "$ROOT/usr/sbin/policy-rc.d"
  cleanup
  rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*_Packages
  touch "$ROOT.done"
fi

# The image's tree: the base, then guest/.
TMP=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'cleanup; rm -rf "$TMP"' EXIT
TREE=$TMP/tree
cp -a "$ROOT" "$TREE"
cp -a "$HERE/guest/." "$TREE/"
echo nhce2e >"$TREE/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 nhce2e\n' >"$TREE/etc/hosts"
mkdir -p "$TREE/srv/a" "$TREE/mnt/host" "$TREE/mnt/src" "$TREE/mnt/static"
sed -i 's/^#logging = none/logging = debug/' "$TREE/etc/autofs.conf" # automount's log -> journal
chroot "$TREE" passwd -d root >/dev/null                            # a test VM: root on the console
# Airflow's own user (uid 50000, as in Airflow's images), for the stand-in airflow-scheduler.service
# of the holder scenarios; it owns the logs share as on a real node.
chroot "$TREE" useradd --uid "$AIRFLOW_UID" --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin airflow
chroot "$TREE" systemctl enable e2e-net.service e2e-runner.service nfs-server.service autofs.service >/dev/null 2>&1
chroot "$TREE" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true

cp "$(find "$TREE/boot" -name 'vmlinuz-*' | sort -V | tail -n 1)" "$TMP/vmlinuz"
cp "$(find "$TREE/boot" -name 'initrd.img-*' | sort -V | tail -n 1)" "$TMP/initrd.img"
# Two filesystems behind the same export paths: the active server's and the passive one's.
for fs in fsA fsB; do
  st=$TMP/stage-$fs
  mkdir -p "$st/airflow/dags" "$st/airflow/logs" "$st/static"
  echo "# example dag served from $fs" >"$st/airflow/dags/example_dag.py"
  echo "static share served from $fs" >"$st/static/server.txt"
  echo "log line on $fs" >"$st/airflow/logs/scheduler.log"
  chown "$AIRFLOW_UID:$AIRFLOW_UID" "$st/airflow/logs" "$st/airflow/logs/scheduler.log"
  mkfs.ext4 -q -F -L "$fs" -d "$st" "$TMP/$fs.img" 64M
  rm -rf "$st"
done
mkfs.ext4 -q -F -L nhce2eroot -d "$TREE" "$TMP/root.img" 3G
rm -rf "$TREE"
touch "$TMP/done"
rm -rf "$OUT"
mv "$TMP" "$OUT"
# Keep the newest two images: a cache, not an archive.
find "$CACHE" -maxdepth 1 -name 'image-*' -type d -printf '%T@ %p\n' | sort -rn | tail -n +3 | cut -d' ' -f2- |
  while IFS= read -r old; do rm -rf "$old"; done
echo "build.sh: built $OUT" >&2
echo "$OUT"
