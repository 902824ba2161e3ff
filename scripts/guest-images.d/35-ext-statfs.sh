# Part of guest-images.sh (sourced in the work directory): ext2/3/4 layout variants whose statfs
# numbers (size minus overhead, free and available counts) are checked against the kernel's.
# ext-NAME.img, each with a few files so the free counts are not the fresh-filesystem ones.
mkdir -p tree-stat/dir
pattern stat-a 300 > tree-stat/a.bin
pattern stat-b 5 > tree-stat/dir/b.bin
for i in $(seq 1 40); do echo "$i" > "tree-stat/dir/f$i"; done
extvariant() {  # extvariant NAME SIZE_KIB MKFS-ARGS...
    local name=$1 size=$2; shift 2
    mke2fs -q -F -E root_owner=0:0 -d tree-stat "$@" "ext-$name.img" "${size}k" >/dev/null 2>&1
}
extvariant ext2-1k 8192 -t ext2 -b 1024
extvariant ext3-4k 16384 -t ext3 -b 4096
extvariant ext4-1k 65536 -t ext4 -b 1024
extvariant ext4-4k-noflex 65536 -t ext4 -b 4096 -g 4096 -O ^flex_bg
extvariant ext4-nojournal 32768 -t ext4 -b 1024 -O ^has_journal -I 128
extvariant ext4-metabg 65536 -t ext4 -b 1024 -g 1024 -O meta_bg,^resize_inode
extvariant ext4-sparse2 65536 -t ext4 -b 1024 -O sparse_super2 -E num_backup_sb=1
extvariant ext4-nosparse 32768 -t ext4 -b 1024 -O ^sparse_super,^resize_inode
extvariant ext4-32bit 65536 -t ext4 -b 4096 -g 2048 -O ^64bit,^metadata_csum
extvariant ext4-bigalloc 65536 -t ext4 -b 4096 -O bigalloc -C 16384
extvariant ext4-bigalloc-1k 32768 -t ext4 -b 1024 -O bigalloc -C 4096
rm -rf tree-stat
