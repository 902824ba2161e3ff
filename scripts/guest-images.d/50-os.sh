# Part of guest-images.sh (sourced in the work directory): whole operating-system guests for
# inspection (`corral guest inspect`, virt-inspector's rules).
#   debian12.raw          MBR: sda1 /boot (ext2, a grub dir), sda2 root (ext4), sda3 swap; /bin -> usr/bin,
#                         /etc/os-release -> ../usr/lib/os-release, the host's dpkg status and /usr/bin/ls
#   debian12-overlay.qcow2  qcow2 over debian12.raw whose only change is /etc/hostname
#   rhel9.raw             GPT: sda1 /boot (ext4), sda2 LVM PV of VG "rhel" (LVs root, swap); an rpmdb.sqlite
#                         written by rpm itself, an aarch64 ELF /usr/bin/bash; needs loop devices for LVM
# Side files for the tests: *.expected.txt (what went in), debian12.dpkg-status, rhel9.rpmdb.sqlite.
for t in rpm rpmbuild; do
    command -v "$t" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q rpm >/dev/null
done
MiB=$((1 << 20))

# ---- Debian 12 ----
mkdir -p os-deb/etc os-deb/usr/bin os-deb/usr/lib os-deb/var/lib/dpkg os-deb/boot os-deb/root os-deb/home os-deb/tmp
ln -s usr/bin os-deb/bin
ln -s ../usr/lib/os-release os-deb/etc/os-release
cat > os-deb/usr/lib/os-release <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
EOF
echo "12.5" > os-deb/etc/debian_version
echo "debian12-guest" > os-deb/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian12-guest\n' > os-deb/etc/hosts
cp /usr/bin/ls os-deb/usr/bin/ls
cp /var/lib/dpkg/status os-deb/var/lib/dpkg/status
cp /var/lib/dpkg/status debian12.dpkg-status
DEB_ROOT_UUID=6a1f5c2e-0d3b-4c7a-9e21-5b8f0c4d7e11
DEB_SWAP_UUID=0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e
cat > os-deb/etc/fstab <<EOF
# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
UUID=$DEB_ROOT_UUID /               ext4    errors=remount-ro 0       1
LABEL=debboot  /boot           ext2    defaults        0       2
UUID=$DEB_SWAP_UUID none            swap    sw              0       0
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0
proc            /proc           proc    defaults        0       0
tmpfs           /tmp            tmpfs   defaults        0       0
fileserver:/export /mnt/nfs     nfs     defaults        0       0
/srv/data       /mnt/bind       none    bind            0       0
EOF
mkdir -p boot-deb/grub && echo "# grub.cfg" > boot-deb/grub/grub.cfg && echo "kernel" > boot-deb/vmlinuz-6.1.0-18-amd64
truncate -s 64M debian12.raw
sfdisk -q debian12.raw <<'EOF'
label: dos
label-id: 0xdeb12000
start=2048, size=16384, type=83, bootable
start=18432, size=98304, type=83
start=116736, size=8192, type=82
EOF
mkfs.ext2 -q -F -L debboot -U 1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5 -d boot-deb deb-boot.img 8M >/dev/null 2>&1
mkfs.ext4 -q -F -L debroot -U $DEB_ROOT_UUID -E root_owner=0:0 -d os-deb deb-root.img 48M >/dev/null 2>&1
truncate -s 4M deb-swap.img && mkswap -q -L debswap -U $DEB_SWAP_UUID deb-swap.img >/dev/null
put deb-boot.img debian12.raw 2048; put deb-root.img debian12.raw 18432; put deb-swap.img debian12.raw 116736
# What dpkg itself lists as installed: "name version arch".
mkdir -p dpkg-admin/updates && cp debian12.dpkg-status dpkg-admin/status
dpkg-query --admindir=dpkg-admin -W -f '${db:Status-Status} ${Package} ${Version} ${Architecture}\n' \
    | sed -n 's/^installed //p' > debian12.expected-packages.txt
rm -rf dpkg-admin

# The overlay: the same disk with a new /etc/hostname, only the changed clusters in the qcow2.
cp debian12.raw deb-modified.raw
cp deb-root.img deb-root2.img
echo "debian12-overlay" > hostname.new
debugfs -w -R "rm /etc/hostname" deb-root2.img >/dev/null 2>&1
debugfs -w -R "write hostname.new /etc/hostname" deb-root2.img >/dev/null 2>&1
put deb-root2.img deb-modified.raw 18432
qemu-img convert -q -O qcow2 -B debian12.raw -F raw deb-modified.raw debian12-overlay.qcow2
rm -rf os-deb boot-deb deb-*.img deb-modified.raw hostname.new

# ---- RHEL 9.2 ----
# A few packages built by rpmbuild and recorded (--justdb) in a real sqlite rpmdb.
mkdir -p rpmtop os-rhel/var/lib/rpm
mkrpm() {  # name version release epoch arch url summary
    {
        echo "Name: $1"; echo "Version: $2"; echo "Release: $3"
        [ "$4" != 0 ] && echo "Epoch: $4"
        echo "Summary: $7"; echo "License: MIT"; [ -n "$6" ] && echo "URL: $6"
        [ "$5" = noarch ] && echo "BuildArch: noarch"
        printf '%%description\nThe %s package, built for corral inspection tests.\n' "$1"
        printf '%%install\nmkdir -p %%{buildroot}/usr/share/%s\necho %s > %%{buildroot}/usr/share/%s/README\n' "$1" "$1" "$1"
        printf '%%files\n/usr/share/%s/README\n' "$1"
    } > "rpmtop/$1.spec"
    rpmbuild -bb --define "_topdir $PWD/rpmtop" --define '_build_id_links none' \
        --target "$(echo "$5" | sed s/noarch/x86_64/)" "rpmtop/$1.spec" >/dev/null 2>&1
}
mkrpm bash 5.1.8 6.el9_1 0 aarch64 "https://www.gnu.org/software/bash" "The GNU Bourne Again shell"
mkrpm kernel-core 5.14.0 284.11.1.el9_2 0 aarch64 "https://www.kernel.org/" "The Linux kernel"
mkrpm redhat-release 9.2 0.13.el9 0 aarch64 "" "Red Hat Enterprise Linux release file"
mkrpm tzdata 2023c 1.el9 0 noarch "https://www.iana.org/time-zones" "Timezone data"
mkrpm openssl-libs 3.0.7 16.el9_2 1 aarch64 "http://www.openssl.org/" "A general purpose cryptography library with TLS implementation"
mkrpm dnf 4.14.0 5.el9_2 0 noarch "https://github.com/rpm-software-management/dnf" "Package manager"
rpm --dbpath "$PWD/os-rhel/var/lib/rpm" --define '_db_backend sqlite' --initdb
rpm --dbpath "$PWD/os-rhel/var/lib/rpm" --define '_db_backend sqlite' -i --justdb --nodeps --noscripts \
    --ignorearch --ignoreos --nosignature rpmtop/RPMS/*/*.rpm >/dev/null 2>&1
rpm --dbpath "$PWD/os-rhel/var/lib/rpm" --define '_db_backend sqlite' -qa \
    --qf '%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH} %{URL}\n' | sort > rhel9.expected-rpms.txt
# The -shm, -wal and lock files stay, as on a real guest: librpm cannot open a WAL database on a
# read-only filesystem without them.
cp os-rhel/var/lib/rpm/rpmdb.sqlite rhel9.rpmdb.sqlite
rm -rf rpmtop

mkdir -p os-rhel/etc/sysconfig os-rhel/usr/bin os-rhel/usr/lib os-rhel/boot os-rhel/root os-rhel/home
ln -s usr/bin os-rhel/bin
cat > os-rhel/etc/os-release <<'EOF'
NAME="Red Hat Enterprise Linux"
VERSION="9.2 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.2"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.2 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
EOF
echo "Red Hat Enterprise Linux release 9.2 (Plow)" > os-rhel/etc/redhat-release
echo "rhel9.example.com" > os-rhel/etc/hostname
echo "HOSTNAME=old-name.example.com" > os-rhel/etc/sysconfig/network
# An aarch64 executable's ELF header (the inspector reads only the header).
python3 -c '
import struct, sys
h = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
h += struct.pack("<HHIQQQIHHHHHH", 3, 183, 1, 0x1000, 64, 0, 0, 64, 56, 0, 64, 0, 0)
sys.stdout.buffer.write(h + bytes(64))' > os-rhel/usr/bin/bash
chmod 755 os-rhel/usr/bin/bash
RHEL_BOOT_UUID=9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a
cat > os-rhel/etc/fstab <<EOF

#
# /etc/fstab
# Created by anaconda on Tue Apr 25 10:00:00 2023
#
/dev/mapper/rhel-root   /                       ext4    defaults        0 0
UUID=$RHEL_BOOT_UUID /boot                   ext4    defaults        1 2
/dev/mapper/rhel-swap   none                    swap    defaults        0 0
EOF
mkdir -p boot-rhel/grub2 && echo "# grub.cfg" > boot-rhel/grub2/grub.cfg
mkfs.ext4 -q -F -L boot -U $RHEL_BOOT_UUID -d boot-rhel rhel-boot.img 8M >/dev/null 2>&1
mkfs.ext4 -q -F -U 4c3b2a19-0807-4f6e-9d5c-4b3a29180706 -E root_owner=0:0 -d os-rhel rhel-root.img 24M >/dev/null 2>&1
truncate -s 4M rhel-swap.img && mkswap -q -U 11223344-5566-4778-899a-abbccddeeff0 rhel-swap.img >/dev/null
truncate -s 40M rhel9.raw
sgdisk -o -n 1:2048:+8M -t 1:8300 -n 2:0:0 -t 2:8e00 -U 99999999-8888-4777-8666-555555555555 rhel9.raw >/dev/null 2>&1
RHEL_PV_START=$(sgdisk -i 2 rhel9.raw | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
RHEL_PV_END=$(sgdisk -i 2 rhel9.raw | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
put rhel-boot.img rhel9.raw 2048
truncate -s $(((RHEL_PV_END - RHEL_PV_START + 1) * 512)) rhel-pv.raw
if [ -z "${GUEST_IMAGES_NO_LOOP:-}" ] && LP=$(losetup -f --show rhel-pv.raw 2>/dev/null); then
    rhel_cleanup() { vgchange --devices "$LP" -an rhel >/dev/null 2>&1 || true; losetup -d "$LP" 2>/dev/null || true; }
    trap rhel_cleanup EXIT
    # --devices keeps LVM to this loop device: builds of other checkouts may run LVM at the same time.
    vgcreate --devices "$LP" -q -s 1M rhel "$LP" >/dev/null
    vgcfgbackup --devices "$LP" -q -f rhel-vg.txt rhel >/dev/null
    # root: extents 0-23, swap: 24-27 (lvcreate needs device-mapper, so the LVs are restored as text).
    python3 - <<'EOF'
def lv(name, ident, start, count):
    return f"""\t\t{name} {{
\t\t\tid = "{ident}"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tsegment_count = 1
\t\t\tsegment1 {{
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = {count}
\t\t\t\ttype = "striped"
\t\t\t\tstripe_count = 1
\t\t\t\tstripes = ["pv0", {start}]
\t\t\t}}
\t\t}}
"""
section = "\tlogical_volumes {\n" + lv("root", "rootlv-0000-1111-2222-3333-4444-555555", 0, 24) \
    + lv("swap", "swaplv-0000-1111-2222-3333-4444-555555", 24, 4) + "\t}\n"
text = open("rhel-vg.txt").read()
i = text.rstrip().rfind("}")
open("rhel-vg2.txt", "w").write(text[:i] + section + text[i:])
EOF
    vgcfgrestore --devices "$LP" -q -f rhel-vg2.txt rhel >/dev/null 2>&1
    PE_START=$(pvs --devices "$LP" --noheadings --units b --nosuffix -o pe_start "$LP" | tr -d ' ')
    rhel_cleanup; trap - EXIT
    dd if=rhel-root.img of=rhel-pv.raw bs=1M seek=$((PE_START / MiB)) conv=notrunc status=none
    dd if=rhel-swap.img of=rhel-pv.raw bs=1M seek=$((PE_START / MiB + 24)) conv=notrunc status=none
    put rhel-pv.raw rhel9.raw "$RHEL_PV_START"
else
    rm rhel9.raw  # without loop devices the LVM tools cannot write the PV; the tests skip this guest
fi
rm -rf os-rhel boot-rhel rhel-*.img rhel-pv.raw rhel-vg.txt rhel-vg2.txt
