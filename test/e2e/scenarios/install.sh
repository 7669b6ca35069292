# The install boot: the project's .deb (npm run package on the host; the VM has no network)
# installed with dpkg -i on a guest without Node.js, as a node gets it, then enabled and started.
# Its disk is what every scenario and the removal boot boot from. DEB: the package's file name
# in the share.
# shellcheck shell=bash
mkdir -p /mnt/src
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro src /mnt/src || exit 1
cat /proc/sys/kernel/random/boot_id >"$S/install_boot_id"
# The package brings its own runtime: there must be no other node for it to lean on.
val guest_node "$(command -v node || echo none)"
t=$(us)
dpkg -i "/mnt/src/$DEB" || { log "dpkg -i $DEB failed"; exit 1; }
val install_s "$(since "$t")"
val deb_version "$(dpkg-query -W -f="\${Version}" nfs-health-checkd)"
t=$(us)
systemctl enable --now nfs-health-checkd || exit 1
val enable_now_s "$(since "$t")"
val is_enabled "$(systemctl is-enabled "$UNIT")"
val is_active "$(systemctl is-active "$UNIT")"
val daemon_exe "$(readlink "/proc/$(main_pid)/exe")"
wait_for 60 both_accessible && val accessible 1
umount /mnt/src
collect
touch "$S/clean-poweroff"
