import Foundation
import Hypervisor

// Module Network: libvirt's network driver for one state root. Network configs live in
// ROOT/etc/network (NAME.xml, autostart/NAME), runtime state (dnsmasq config, leases, pid)
// in ROOT/run/network. The QEMU driver owns one NetworkManager and forwards to it.
