import GuestFS

/// `ls -l` mode: guestfs_ll, which runs `ls -la` on the directory inside the appliance.
struct GuestLongListing {
    let vfs: VFS

    func list(_ dir: String, _ out: GuestOutput) throws(GuestFSError) {
        throw GuestFSError("-l without -R is not implemented yet")
    }
}
