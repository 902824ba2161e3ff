import Foundation
import Hypervisor

// Module Network: libvirt's network driver for one state root. Network configs live in
// ROOT/etc/network (NAME.xml, autostart/NAME), runtime state (dnsmasq config, leases, pid)
// in ROOT/run/network. The QEMU driver owns one NetworkManager and forwards to it.

/// How networks reach the host, as libvirt's system and session daemons differ.
public enum NetworkMode: String, Sendable {
    /// Privileged: a Linux bridge per network, dnsmasq for DHCP/DNS, nftables NAT; guests on tap devices.
    case system
    /// Unprivileged: each guest NIC on a network gets QEMU user-mode networking shaped by the network's XML.
    case session
}

/// The virtual networks of one state root.
public actor NetworkManager {
    public let root: String
    public let mode: NetworkMode

    public init(root: String, mode: NetworkMode) {
        self.root = root
        self.mode = mode
    }
}
