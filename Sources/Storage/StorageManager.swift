import Foundation
import Hypervisor

// Module Storage: libvirt's storage driver for one state root. Pool configs live in
// ROOT/etc/storage (NAME.xml, autostart/NAME), runtime state in ROOT/run/storage.
// The QEMU driver owns one StorageManager and forwards the StorageDriver calls to it.

/// The pools and volumes of one state root.
public actor StorageManager {
    public let root: String

    public init(root: String) {
        self.root = root
    }
}
