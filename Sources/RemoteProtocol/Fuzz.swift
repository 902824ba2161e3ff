import Hypervisor
import NIOCore

/// The decoding side of the protocol as one function over arbitrary bytes, for fuzzers
/// (the seeded tests and the libFuzzer harness in Sources/remote-fuzzer).
public enum RemoteProtocolFuzz {
    /// Every wire struct the server or a client decodes.
    public static let wireTypes: [any XDRCodable.Type] = [
        XDRVoid.self, DomainRef.self, TypedParam.self, VCPUInfo.self, DomainStatsRecord.self, RemoteError.self,
        Int32Args.self, UInt64Ret.self, StringValue.self, UUIDArgs.self, DomainArgs.self, DomainFlagsArgs.self,
        XMLFlagsArgs.self, ConnectOpenArgs.self, AuthListRet.self, NodeGetInfoRet.self, DomainCapabilitiesArgs.self,
        DomainXMLToNativeArgs.self, NodeGetCPUMapArgs.self, NodeGetCPUMapRet.self, SecurityModelRet.self,
        ListAllDomainsArgs.self, ListAllDomainsRet.self, ListDomainIDsRet.self, ListDomainNamesRet.self,
        DomainGetInfoRet.self, DomainGetStateRet.self, DomainSetAutostartArgs.self, DomainGetVcpusArgs.self,
        DomainGetVcpusRet.self, SecurityLabelRet.self, SecurityLabelListRet.self, GetAllDomainStatsArgs.self,
        GetAllDomainStatsRet.self, DomainMemoryStatsArgs.self, DomainMemoryStatsRet.self, DomainPathArgs.self,
        DomainBlockStatsRet.self, DomainInterfaceStatsRet.self, DomainOpenConsoleArgs.self,
        EventCallbackRegisterArgs.self, EventCallbackLifecycleMsg.self,
        // Storage, networks, device changes
        StoragePoolRef.self, StorageVolRef.self, NetworkRef.self, NetworkDHCPLease.self, DomainIPAddress.self,
        DomainInterfaceAddresses.self, StoragePoolArgs.self, StoragePoolFlagsArgs.self, ObjectIntArgs<StoragePoolRef>.self,
        ObjectStringArgs<StoragePoolRef>.self, ObjectXMLFlagsArgs<StoragePoolRef>.self, StorageVolArgs.self,
        StorageVolFlagsArgs.self, ListAllStoragePoolsRet.self, ListAllStorageVolsRet.self,
        StoragePoolListAllVolumesArgs.self, StoragePoolGetInfoRet.self, StorageVolGetInfoRet.self,
        StorageVolCreateXMLFromArgs.self, StorageVolWipePatternArgs.self, StorageVolResizeArgs.self,
        StorageVolTransferArgs.self, StoragePoolEventRegisterArgs.self, NetworkArgs.self, NetworkFlagsArgs.self,
        ObjectIntArgs<NetworkRef>.self, ListAllNetworksRet.self, NetworkEventRegisterArgs.self,
        NetworkGetDHCPLeasesArgs.self, NetworkGetDHCPLeasesRet.self, DomainDeviceArgs.self, DomainDeviceFlagsArgs.self,
        DomainInterfaceAddressesArgs.self, DomainInterfaceAddressesRet.self, StreamHole.self,
    ]

    /// Splits `bytes` into packets and decodes every packet's payload (and the bytes
    /// themselves) as every wire struct; whatever decodes must survive a re-encode round
    /// trip. Returns how many values decoded. Traps only on a round-trip mismatch, which is
    /// a codec bug a fuzzer should report.
    @discardableResult
    public static func run(_ bytes: [UInt8]) -> Int {
        var payloads = [bytes]
        var buf = ByteBuffer(bytes: bytes)
        while let msg = try? RPCMessageDecoder.decodeOne(&buf) { payloads.append(msg.payload) }
        var decoded = 0
        for p in payloads {
            for t in wireTypes {
                guard let v = try? t.init(xdrBytes: p) else { continue }
                decoded += 1
                let again = try? t.init(xdrBytes: v.xdrBytes)
                precondition(again?.xdrBytes == v.xdrBytes, "XDR round trip of \(t) changed its encoding")
            }
        }
        return decoded
    }
}
