import DomainXML
import Foundation
import Hypervisor

// Server side of the storage, network and device-change procedures, in terms of the
// session's driver (StorageDriver, NetworkDriver, DomainDeviceDriver).

extension RemoteServer {
    static func registerStorage(_ t: inout ProcedureTable) {
        // Legacy name lists: what clients without virConnectListAllStoragePools use.
        t.register(Procedures.connectNumOfStoragePools) { s, _ in
            Int32Ret(Int32(clamping: try await s.driver().listAllStoragePools(flags: .active).count))
        }
        t.register(Procedures.connectNumOfDefinedStoragePools) { s, _ in
            Int32Ret(Int32(clamping: try await s.driver().listAllStoragePools(flags: .inactive).count))
        }
        t.register(Procedures.connectListStoragePools) { s, a in
            try checkMax(a.value, XDRLimits.storagePoolListMax, "maxnames")
            return NamesRet(names: prefix(try await s.driver().listAllStoragePools(flags: .active).map(\.name), a.value))
        }
        t.register(Procedures.connectListDefinedStoragePools) { s, a in
            try checkMax(a.value, XDRLimits.storagePoolListMax, "maxnames")
            return NamesRet(names: prefix(try await s.driver().listAllStoragePools(flags: .inactive).map(\.name), a.value))
        }
        t.register(Procedures.connectListAllStoragePools) { s, a in
            let pools = try await s.driver().listAllStoragePools(flags: ListStoragePoolsFlags(rawValue: a.flags))
            return ListAllStoragePoolsRet(a.needResults != 0 ? pools : [], ret: UInt32(pools.count))
        }

        t.register(Procedures.storagePoolLookupByName) { s, a in StoragePoolRet(try await s.driver().lookupStoragePool(name: a.value)) }
        t.register(Procedures.storagePoolLookupByUUID) { s, a in StoragePoolRet(try await s.driver().lookupStoragePool(uuid: a.uuid)) }
        t.register(Procedures.storagePoolLookupByVolume) { s, a in StoragePoolRet(try await s.driver().lookupStoragePool(volume: a.object)) }
        t.register(Procedures.storagePoolDefineXML) { s, a in StoragePoolRet(try await s.driver().defineStoragePool(xml: a.xml, flags: a.flags)) }
        t.register(Procedures.storagePoolCreateXML) { s, a in
            StoragePoolRet(try await s.driver().createStoragePool(xml: a.xml, flags: StoragePoolCreateFlags(rawValue: a.flags)))
        }
        t.register(Procedures.storagePoolBuild) { s, a in
            try await s.driver().buildStoragePool(a.object, flags: StoragePoolBuildFlags(rawValue: a.flags)); return XDRVoid()
        }
        t.register(Procedures.storagePoolCreate) { s, a in
            try await s.driver().startStoragePool(a.object, flags: StoragePoolCreateFlags(rawValue: a.flags)); return XDRVoid()
        }
        t.register(Procedures.storagePoolDestroy) { s, a in try await s.driver().destroyStoragePool(a.object); return XDRVoid() }
        t.register(Procedures.storagePoolDelete) { s, a in try await s.driver().deleteStoragePool(a.object, flags: a.flags); return XDRVoid() }
        t.register(Procedures.storagePoolUndefine) { s, a in try await s.driver().undefineStoragePool(a.object); return XDRVoid() }
        t.register(Procedures.storagePoolRefresh) { s, a in try await s.driver().refreshStoragePool(a.object, flags: a.flags); return XDRVoid() }
        t.register(Procedures.storagePoolGetInfo) { s, a in StoragePoolGetInfoRet(try await s.driver().storagePoolInfo(a.object)) }
        t.register(Procedures.storagePoolGetXMLDesc) { s, a in
            StringValue(try await s.driver().storagePoolXML(a.object, flags: StorageXMLFlags(rawValue: a.flags)))
        }
        t.register(Procedures.storagePoolGetAutostart) { s, a in Int32Ret(try await s.driver().storagePoolAutostart(a.object) ? 1 : 0) }
        t.register(Procedures.storagePoolSetAutostart) { s, a in
            try await s.driver().setStoragePoolAutostart(a.object, a.value != 0); return XDRVoid()
        }
        t.register(Procedures.storagePoolIsActive) { s, a in Int32Ret(try await s.driver().storagePoolIsActive(a.object) ? 1 : 0) }
        t.register(Procedures.storagePoolIsPersistent) { s, a in Int32Ret(try await s.driver().storagePoolIsPersistent(a.object) ? 1 : 0) }
        t.register(Procedures.storagePoolNumOfVolumes) { s, a in
            Int32Ret(Int32(clamping: try await s.driver().listAllStorageVolumes(a.object, flags: 0).count))
        }
        t.register(Procedures.storagePoolListVolumes) { s, a in
            try checkMax(a.value, XDRLimits.storageVolListMax, "maxnames")
            return NamesRet(names: prefix(try await s.driver().listAllStorageVolumes(a.object, flags: 0).map(\.name), a.value))
        }
        t.register(Procedures.storagePoolListAllVolumes) { s, a in
            let vols = try await s.driver().listAllStorageVolumes(a.pool, flags: a.flags)
            return ListAllStorageVolsRet(a.needResults != 0 ? vols : [], ret: UInt32(vols.count))
        }

        t.register(Procedures.storageVolLookupByName) { s, a in
            StorageVolRet(try await s.driver().lookupStorageVolume(pool: a.object, name: a.string))
        }
        t.register(Procedures.storageVolLookupByKey) { s, a in StorageVolRet(try await s.driver().lookupStorageVolume(key: a.value)) }
        t.register(Procedures.storageVolLookupByPath) { s, a in StorageVolRet(try await s.driver().lookupStorageVolume(path: a.value)) }
        t.register(Procedures.storageVolCreateXML) { s, a in
            StorageVolRet(try await s.driver().createStorageVolume(a.object, xml: a.xml, flags: StorageVolCreateFlags(rawValue: a.flags)))
        }
        t.register(Procedures.storageVolCreateXMLFrom) { s, a in
            StorageVolRet(try await s.driver().createStorageVolume(a.pool, xml: a.xml, from: a.clonevol,
                                                                   flags: StorageVolCreateFlags(rawValue: a.flags)))
        }
        t.register(Procedures.storageVolDelete) { s, a in
            try await s.driver().deleteStorageVolume(a.object, flags: StorageVolDeleteFlags(rawValue: a.flags)); return XDRVoid()
        }
        // virStorageVolWipe is the zero algorithm.
        t.register(Procedures.storageVolWipe) { s, a in
            try await s.driver().wipeStorageVolume(a.object, algorithm: .zero, flags: a.flags); return XDRVoid()
        }
        t.register(Procedures.storageVolWipePattern) { s, a in
            guard let algorithm = StorageVolWipeAlgorithm(rawValue: a.algorithm) else {
                throw VirError(.invalidArg, "invalid argument: wiping algorithm \(a.algorithm) not supported", domain: .storage)
            }
            try await s.driver().wipeStorageVolume(a.vol, algorithm: algorithm, flags: a.flags); return XDRVoid()
        }
        t.register(Procedures.storageVolGetInfo) { s, a in StorageVolGetInfoRet(try await s.driver().storageVolumeInfo(a.object)) }
        // VIR_STORAGE_VOL_GET_PHYSICAL (virsh vol-info --physical) puts the host size of the
        // volume in the allocation field; the driver reports it as the volume XML's <physical>.
        t.register(Procedures.storageVolGetInfoFlags) { s, a in
            guard a.flags & ~1 == 0 else {
                throw VirError(.invalidArg, "invalid argument: unsupported flags (0x\(String(a.flags & ~1, radix: 16))) in function virStorageVolGetInfoFlags", domain: .storage)
            }
            let d = try await s.driver()
            var info = try await d.storageVolumeInfo(a.object)
            if a.flags & 1 != 0 {
                let xml = try await d.storageVolumeXML(a.object, flags: 0)
                if let physical = try? StorageVolume(xml: xml).physical { info.allocation = physical }
            }
            return StorageVolGetInfoRet(info)
        }
        t.register(Procedures.storageVolGetXMLDesc) { s, a in StringValue(try await s.driver().storageVolumeXML(a.object, flags: a.flags)) }
        t.register(Procedures.storageVolGetPath) { s, a in StringValue(try await s.driver().storageVolumePath(a.object)) }
        t.register(Procedures.storageVolResize) { s, a in
            try await s.driver().resizeStorageVolume(a.vol, capacity: a.capacity, flags: StorageVolResizeFlags(rawValue: a.flags))
            return XDRVoid()
        }

        // Transfers: the stream's data follows the reply (STREAM packets under the call's serial).
        // Sparse transfers are handled here: holes the client sends are written as zeros, and
        // downloads send only data (a sparse-aware client accepts that), so the driver always
        // sees a plain byte stream.
        t.register(Procedures.storageVolUpload) { s, a in
            let flags = StorageVolTransferFlags(rawValue: a.flags)
            let stream = try await s.driver().uploadStorageVolume(a.vol, offset: a.offset, length: a.length,
                                                                 flags: flags.subtracting(.sparseStream))
            await s.addUploadStream(procedure: Procedures.storageVolUpload.number, stream, sparse: flags.contains(.sparseStream))
            return XDRVoid()
        }
        t.register(Procedures.storageVolDownload) { s, a in
            let flags = StorageVolTransferFlags(rawValue: a.flags).subtracting(.sparseStream)
            let stream = try await s.driver().downloadStorageVolume(a.vol, offset: a.offset, length: a.length, flags: flags)
            await s.addStream(procedure: Procedures.storageVolDownload.number, stream)
            return XDRVoid()
        }

        t.register(Procedures.connectStoragePoolEventRegisterAny) { s, a in
            Int32Ret(try await s.registerObjectCallback(.storagePool, eventID: a.eventID))
        }
        t.register(Procedures.connectStoragePoolEventDeregisterAny) { s, a in
            try await s.deregisterObjectCallback(.storagePool, a.value); return XDRVoid()
        }
    }

    static func registerNetworks(_ t: inout ProcedureTable) {
        t.register(Procedures.connectNumOfNetworks) { s, _ in
            Int32Ret(Int32(clamping: try await s.driver().listAllNetworks(flags: .active).count))
        }
        t.register(Procedures.connectNumOfDefinedNetworks) { s, _ in
            Int32Ret(Int32(clamping: try await s.driver().listAllNetworks(flags: .inactive).count))
        }
        t.register(Procedures.connectListNetworks) { s, a in
            try checkMax(a.value, XDRLimits.networkListMax, "maxnames")
            return NamesRet(names: prefix(try await s.driver().listAllNetworks(flags: .active).map(\.name), a.value))
        }
        t.register(Procedures.connectListDefinedNetworks) { s, a in
            try checkMax(a.value, XDRLimits.networkListMax, "maxnames")
            return NamesRet(names: prefix(try await s.driver().listAllNetworks(flags: .inactive).map(\.name), a.value))
        }
        t.register(Procedures.connectListAllNetworks) { s, a in
            let nets = try await s.driver().listAllNetworks(flags: ListNetworksFlags(rawValue: a.flags))
            return ListAllNetworksRet(a.needResults != 0 ? nets : [], ret: UInt32(nets.count))
        }
        t.register(Procedures.networkLookupByName) { s, a in NetworkRet(try await s.driver().lookupNetwork(name: a.value)) }
        t.register(Procedures.networkLookupByUUID) { s, a in NetworkRet(try await s.driver().lookupNetwork(uuid: a.uuid)) }
        t.register(Procedures.networkDefineXML) { s, a in NetworkRet(try await s.driver().defineNetwork(xml: a.value, flags: 0)) }
        t.register(Procedures.networkDefineXMLFlags) { s, a in NetworkRet(try await s.driver().defineNetwork(xml: a.xml, flags: a.flags)) }
        t.register(Procedures.networkCreateXML) { s, a in NetworkRet(try await s.driver().createNetwork(xml: a.value, flags: 0)) }
        t.register(Procedures.networkCreateXMLFlags) { s, a in NetworkRet(try await s.driver().createNetwork(xml: a.xml, flags: a.flags)) }
        t.register(Procedures.networkUndefine) { s, a in try await s.driver().undefineNetwork(a.object); return XDRVoid() }
        t.register(Procedures.networkCreate) { s, a in try await s.driver().startNetwork(a.object); return XDRVoid() }
        t.register(Procedures.networkDestroy) { s, a in try await s.driver().destroyNetwork(a.object); return XDRVoid() }
        t.register(Procedures.networkGetXMLDesc) { s, a in
            StringValue(try await s.driver().networkXML(a.object, flags: NetworkXMLFlags(rawValue: a.flags)))
        }
        t.register(Procedures.networkGetBridgeName) { s, a in StringValue(try await s.driver().networkBridgeName(a.object)) }
        t.register(Procedures.networkGetAutostart) { s, a in Int32Ret(try await s.driver().networkAutostart(a.object) ? 1 : 0) }
        t.register(Procedures.networkSetAutostart) { s, a in try await s.driver().setNetworkAutostart(a.object, a.value != 0); return XDRVoid() }
        t.register(Procedures.networkIsActive) { s, a in Int32Ret(try await s.driver().networkIsActive(a.object) ? 1 : 0) }
        t.register(Procedures.networkIsPersistent) { s, a in Int32Ret(try await s.driver().networkIsPersistent(a.object) ? 1 : 0) }
        t.register(Procedures.networkGetDHCPLeases) { s, a in
            if a.flags != 0 {
                throw VirError(.invalidArg, "invalid argument: unsupported flags (0x\(String(a.flags, radix: 16))) in function virNetworkGetDHCPLeases", domain: .net)
            }
            let leases = try await s.driver().networkDHCPLeases(a.net, mac: a.mac)
            return NetworkGetDHCPLeasesRet(leases: a.needResults != 0 ? leases : [], ret: UInt32(leases.count))
        }
        t.register(Procedures.connectNetworkEventRegisterAny) { s, a in
            Int32Ret(try await s.registerObjectCallback(.network, eventID: a.eventID))
        }
        t.register(Procedures.connectNetworkEventDeregisterAny) { s, a in
            try await s.deregisterObjectCallback(.network, a.value); return XDRVoid()
        }
    }

    static func registerDevices(_ t: inout ProcedureTable) {
        // The plain calls are the _FLAGS ones with VIR_DOMAIN_AFFECT_LIVE, as libvirt's drivers.
        t.register(Procedures.domainAttachDevice) { s, a in
            try await s.driver().attachDevice(a.object, xml: a.string, flags: .live); return XDRVoid()
        }
        t.register(Procedures.domainDetachDevice) { s, a in
            try await s.driver().detachDevice(a.object, xml: a.string, flags: .live); return XDRVoid()
        }
        t.register(Procedures.domainAttachDeviceFlags) { s, a in
            try await s.driver().attachDevice(a.object, xml: a.xml, flags: DeviceModifyFlags(rawValue: a.flags)); return XDRVoid()
        }
        t.register(Procedures.domainDetachDeviceFlags) { s, a in
            try await s.driver().detachDevice(a.object, xml: a.xml, flags: DeviceModifyFlags(rawValue: a.flags)); return XDRVoid()
        }
        t.register(Procedures.domainUpdateDeviceFlags) { s, a in
            try await s.driver().updateDevice(a.object, xml: a.xml, flags: DeviceModifyFlags(rawValue: a.flags)); return XDRVoid()
        }
        t.register(Procedures.domainInterfaceAddresses) { s, a in
            guard let source = InterfaceAddressSource(rawValue: a.source) else {
                throw VirError(.invalidArg, "invalid argument: Unknown IP address data source \(a.source)", domain: .qemu)
            }
            let ifaces = try await s.driver().interfaceAddresses(a.dom, source: source, flags: a.flags)
            guard ifaces.count <= XDRLimits.domainInterfaceMax else {
                throw VirError(.rpc, "Number of interfaces, \(ifaces.count), exceeds the max limit: \(XDRLimits.domainInterfaceMax)", domain: .rpc)
            }
            return DomainInterfaceAddressesRet(ifaces)
        }
    }

    /// The first `max` items (a negative count asks for none).
    static func prefix<T>(_ items: [T], _ max: Int32) -> [T] { Array(items.prefix(Int(Swift.max(0, max)))) }
}
