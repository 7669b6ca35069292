# The install boot: nfs-health-checkd installed as the README tells users, from the tree built on
# the host (npm ci && npm run build there; the VM has no network), then enabled and started.
# Its disk is what every scenario boots from.
# shellcheck shell=bash
mkdir -p /mnt/src
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro src /mnt/src || exit 1
cat /proc/sys/kernel/random/boot_id >"$S/install_boot_id"
cd /mnt/src || exit 1
t=$(us)
packaging/install.sh || { log "install.sh failed"; exit 1; }
val install_s "$(since "$t")"
t=$(us)
systemctl enable --now nfs-health-checkd || exit 1
val enable_now_s "$(since "$t")"
val is_enabled "$(systemctl is-enabled "$UNIT")"
val is_active "$(systemctl is-active "$UNIT")"
wait_for 60 both_accessible && val accessible 1
cd / && umount /mnt/src
collect
touch "$S/clean-poweroff"
