import Hypervisor

// Procedures for storage pools and volumes, virtual networks, device changes and interface
// addresses (numbers from remote_protocol.x's `enum remote_procedure`). Read-only flags follow
// libvirt: queries pass, changes are refused, and so is a volume download (it reads a guest's
// data; libvirt's virStorageVolDownload checks read-only).

extension Procedures {
    // Storage pools: listing (the legacy name lists are what older clients fall back to)
    public static let connectNumOfStoragePools = Procedure<XDRVoid, Int32Ret>(71, "CONNECT_NUM_OF_STORAGE_POOLS", readOnly: true)
    public static let connectListStoragePools = Procedure<Int32Args, NamesRet>(72, "CONNECT_LIST_STORAGE_POOLS", readOnly: true)
    public static let connectNumOfDefinedStoragePools = Procedure<XDRVoid, Int32Ret>(73, "CONNECT_NUM_OF_DEFINED_STORAGE_POOLS", readOnly: true)
    public static let connectListDefinedStoragePools = Procedure<Int32Args, NamesRet>(74, "CONNECT_LIST_DEFINED_STORAGE_POOLS", readOnly: true)
    public static let connectListAllStoragePools = Procedure<ListAllObjectsArgs, ListAllStoragePoolsRet>(281, "CONNECT_LIST_ALL_STORAGE_POOLS", readOnly: true)

    // Storage pools
    public static let storagePoolCreateXML = Procedure<XMLFlagsArgs, StoragePoolRet>(76, "STORAGE_POOL_CREATE_XML", readOnly: false)
    public static let storagePoolDefineXML = Procedure<XMLFlagsArgs, StoragePoolRet>(77, "STORAGE_POOL_DEFINE_XML", readOnly: false)
    public static let storagePoolCreate = Procedure<StoragePoolFlagsArgs, XDRVoid>(78, "STORAGE_POOL_CREATE", readOnly: false)
    public static let storagePoolBuild = Procedure<StoragePoolFlagsArgs, XDRVoid>(79, "STORAGE_POOL_BUILD", readOnly: false)
    public static let storagePoolDestroy = Procedure<StoragePoolArgs, XDRVoid>(80, "STORAGE_POOL_DESTROY", readOnly: false)
    public static let storagePoolDelete = Procedure<StoragePoolFlagsArgs, XDRVoid>(81, "STORAGE_POOL_DELETE", readOnly: false)
    public static let storagePoolUndefine = Procedure<StoragePoolArgs, XDRVoid>(82, "STORAGE_POOL_UNDEFINE", readOnly: false)
    public static let storagePoolRefresh = Procedure<StoragePoolFlagsArgs, XDRVoid>(83, "STORAGE_POOL_REFRESH", readOnly: false)
    public static let storagePoolLookupByName = Procedure<StringValue, StoragePoolRet>(84, "STORAGE_POOL_LOOKUP_BY_NAME", readOnly: true)
    public static let storagePoolLookupByUUID = Procedure<UUIDArgs, StoragePoolRet>(85, "STORAGE_POOL_LOOKUP_BY_UUID", readOnly: true)
    public static let storagePoolLookupByVolume = Procedure<StorageVolArgs, StoragePoolRet>(86, "STORAGE_POOL_LOOKUP_BY_VOLUME", readOnly: true)
    public static let storagePoolGetInfo = Procedure<StoragePoolArgs, StoragePoolGetInfoRet>(87, "STORAGE_POOL_GET_INFO", readOnly: true)
    public static let storagePoolGetXMLDesc = Procedure<StoragePoolFlagsArgs, StringValue>(88, "STORAGE_POOL_GET_XML_DESC", readOnly: true)
    public static let storagePoolGetAutostart = Procedure<StoragePoolArgs, Int32Ret>(89, "STORAGE_POOL_GET_AUTOSTART", readOnly: true)
    public static let storagePoolSetAutostart = Procedure<ObjectIntArgs<StoragePoolRef>, XDRVoid>(90, "STORAGE_POOL_SET_AUTOSTART", readOnly: false)
    public static let storagePoolNumOfVolumes = Procedure<StoragePoolArgs, Int32Ret>(91, "STORAGE_POOL_NUM_OF_VOLUMES", readOnly: true)
    public static let storagePoolListVolumes = Procedure<ObjectIntArgs<StoragePoolRef>, NamesRet>(92, "STORAGE_POOL_LIST_VOLUMES", readOnly: true)
    public static let storagePoolIsActive = Procedure<StoragePoolArgs, Int32Ret>(154, "STORAGE_POOL_IS_ACTIVE", readOnly: true)
    public static let storagePoolIsPersistent = Procedure<StoragePoolArgs, Int32Ret>(155, "STORAGE_POOL_IS_PERSISTENT", readOnly: true)
    public static let storagePoolListAllVolumes = Procedure<StoragePoolListAllVolumesArgs, ListAllStorageVolsRet>(282, "STORAGE_POOL_LIST_ALL_VOLUMES", readOnly: true)

    // Storage volumes
    public static let storageVolCreateXML = Procedure<ObjectXMLFlagsArgs<StoragePoolRef>, StorageVolRet>(93, "STORAGE_VOL_CREATE_XML", readOnly: false)
    public static let storageVolDelete = Procedure<StorageVolFlagsArgs, XDRVoid>(94, "STORAGE_VOL_DELETE", readOnly: false)
    public static let storageVolLookupByName = Procedure<ObjectStringArgs<StoragePoolRef>, StorageVolRet>(95, "STORAGE_VOL_LOOKUP_BY_NAME", readOnly: true)
    public static let storageVolLookupByKey = Procedure<StringValue, StorageVolRet>(96, "STORAGE_VOL_LOOKUP_BY_KEY", readOnly: true)
    public static let storageVolLookupByPath = Procedure<StringValue, StorageVolRet>(97, "STORAGE_VOL_LOOKUP_BY_PATH", readOnly: true)
    public static let storageVolGetInfo = Procedure<StorageVolArgs, StorageVolGetInfoRet>(98, "STORAGE_VOL_GET_INFO", readOnly: true)
    public static let storageVolGetXMLDesc = Procedure<StorageVolFlagsArgs, StringValue>(99, "STORAGE_VOL_GET_XML_DESC", readOnly: true)
    public static let storageVolGetPath = Procedure<StorageVolArgs, StringValue>(100, "STORAGE_VOL_GET_PATH", readOnly: true)
    public static let storageVolCreateXMLFrom = Procedure<StorageVolCreateXMLFromArgs, StorageVolRet>(125, "STORAGE_VOL_CREATE_XML_FROM", readOnly: false)
    public static let storageVolWipe = Procedure<StorageVolFlagsArgs, XDRVoid>(165, "STORAGE_VOL_WIPE", readOnly: false)
    public static let storageVolUpload = Procedure<StorageVolTransferArgs, XDRVoid>(208, "STORAGE_VOL_UPLOAD", readOnly: false)
    public static let storageVolDownload = Procedure<StorageVolTransferArgs, XDRVoid>(209, "STORAGE_VOL_DOWNLOAD", readOnly: false)
    public static let storageVolWipePattern = Procedure<StorageVolWipePatternArgs, XDRVoid>(259, "STORAGE_VOL_WIPE_PATTERN", readOnly: false)
    public static let storageVolResize = Procedure<StorageVolResizeArgs, XDRVoid>(260, "STORAGE_VOL_RESIZE", readOnly: false)
    public static let storageVolGetInfoFlags = Procedure<StorageVolFlagsArgs, StorageVolGetInfoRet>(378, "STORAGE_VOL_GET_INFO_FLAGS", readOnly: true)

    // Storage pool events (registrations are accepted; no pool events are sent yet)
    public static let connectStoragePoolEventRegisterAny = Procedure<StoragePoolEventRegisterArgs, Int32Ret>(368, "CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY", readOnly: true)
    public static let connectStoragePoolEventDeregisterAny = Procedure<Int32Args, XDRVoid>(369, "CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY", readOnly: true)

    // Networks: listing
    public static let connectListDefinedNetworks = Procedure<Int32Args, NamesRet>(36, "CONNECT_LIST_DEFINED_NETWORKS", readOnly: true)
    public static let connectListNetworks = Procedure<Int32Args, NamesRet>(38, "CONNECT_LIST_NETWORKS", readOnly: true)
    public static let connectNumOfDefinedNetworks = Procedure<XDRVoid, Int32Ret>(50, "CONNECT_NUM_OF_DEFINED_NETWORKS", readOnly: true)
    public static let connectNumOfNetworks = Procedure<XDRVoid, Int32Ret>(52, "CONNECT_NUM_OF_NETWORKS", readOnly: true)
    public static let connectListAllNetworks = Procedure<ListAllObjectsArgs, ListAllNetworksRet>(283, "CONNECT_LIST_ALL_NETWORKS", readOnly: true)

    // Networks
    public static let networkCreate = Procedure<NetworkArgs, XDRVoid>(39, "NETWORK_CREATE", readOnly: false)
    public static let networkCreateXML = Procedure<StringValue, NetworkRet>(40, "NETWORK_CREATE_XML", readOnly: false)
    public static let networkDefineXML = Procedure<StringValue, NetworkRet>(41, "NETWORK_DEFINE_XML", readOnly: false)
    public static let networkDestroy = Procedure<NetworkArgs, XDRVoid>(42, "NETWORK_DESTROY", readOnly: false)
    public static let networkGetXMLDesc = Procedure<NetworkFlagsArgs, StringValue>(43, "NETWORK_GET_XML_DESC", readOnly: true)
    public static let networkGetAutostart = Procedure<NetworkArgs, Int32Ret>(44, "NETWORK_GET_AUTOSTART", readOnly: true)
    public static let networkGetBridgeName = Procedure<NetworkArgs, StringValue>(45, "NETWORK_GET_BRIDGE_NAME", readOnly: true)
    public static let networkLookupByName = Procedure<StringValue, NetworkRet>(46, "NETWORK_LOOKUP_BY_NAME", readOnly: true)
    public static let networkLookupByUUID = Procedure<UUIDArgs, NetworkRet>(47, "NETWORK_LOOKUP_BY_UUID", readOnly: true)
    public static let networkSetAutostart = Procedure<ObjectIntArgs<NetworkRef>, XDRVoid>(48, "NETWORK_SET_AUTOSTART", readOnly: false)
    public static let networkUndefine = Procedure<NetworkArgs, XDRVoid>(49, "NETWORK_UNDEFINE", readOnly: false)
    public static let networkIsActive = Procedure<NetworkArgs, Int32Ret>(152, "NETWORK_IS_ACTIVE", readOnly: true)
    public static let networkIsPersistent = Procedure<NetworkArgs, Int32Ret>(153, "NETWORK_IS_PERSISTENT", readOnly: true)
    public static let networkGetDHCPLeases = Procedure<NetworkGetDHCPLeasesArgs, NetworkGetDHCPLeasesRet>(341, "NETWORK_GET_DHCP_LEASES", readOnly: true, api: "virNetworkGetDHCPLeases")
    public static let networkDefineXMLFlags = Procedure<XMLFlagsArgs, NetworkRet>(432, "NETWORK_DEFINE_XML_FLAGS", readOnly: false)
    public static let networkCreateXMLFlags = Procedure<XMLFlagsArgs, NetworkRet>(437, "NETWORK_CREATE_XML_FLAGS", readOnly: false)

    // Network events (registrations are accepted; no network events are sent yet)
    public static let connectNetworkEventRegisterAny = Procedure<NetworkEventRegisterArgs, Int32Ret>(313, "CONNECT_NETWORK_EVENT_REGISTER_ANY", readOnly: true)
    public static let connectNetworkEventDeregisterAny = Procedure<Int32Args, XDRVoid>(314, "CONNECT_NETWORK_EVENT_DEREGISTER_ANY", readOnly: true)

    // Device changes and interface addresses
    public static let domainAttachDevice = Procedure<DomainDeviceArgs, XDRVoid>(8, "DOMAIN_ATTACH_DEVICE", readOnly: false)
    public static let domainDetachDevice = Procedure<DomainDeviceArgs, XDRVoid>(13, "DOMAIN_DETACH_DEVICE", readOnly: false)
    public static let domainAttachDeviceFlags = Procedure<DomainDeviceFlagsArgs, XDRVoid>(160, "DOMAIN_ATTACH_DEVICE_FLAGS", readOnly: false)
    public static let domainDetachDeviceFlags = Procedure<DomainDeviceFlagsArgs, XDRVoid>(161, "DOMAIN_DETACH_DEVICE_FLAGS", readOnly: false)
    public static let domainUpdateDeviceFlags = Procedure<DomainDeviceFlagsArgs, XDRVoid>(174, "DOMAIN_UPDATE_DEVICE_FLAGS", readOnly: false)
    // Read-only callers may ask; the agent source is refused to them by ReadOnlyDriver, as libvirt.
    public static let domainInterfaceAddresses = Procedure<DomainInterfaceAddressesArgs, DomainInterfaceAddressesRet>(353, "DOMAIN_INTERFACE_ADDRESSES", readOnly: true)

    /// Every declaration in this file (part of `Procedures.all`).
    static let objectProcedures: [ProcedureInfo] = [
        connectNumOfStoragePools.info, connectListStoragePools.info, connectNumOfDefinedStoragePools.info,
        connectListDefinedStoragePools.info, connectListAllStoragePools.info,
        storagePoolCreateXML.info, storagePoolDefineXML.info, storagePoolCreate.info, storagePoolBuild.info,
        storagePoolDestroy.info, storagePoolDelete.info, storagePoolUndefine.info, storagePoolRefresh.info,
        storagePoolLookupByName.info, storagePoolLookupByUUID.info, storagePoolLookupByVolume.info,
        storagePoolGetInfo.info, storagePoolGetXMLDesc.info, storagePoolGetAutostart.info, storagePoolSetAutostart.info,
        storagePoolNumOfVolumes.info, storagePoolListVolumes.info, storagePoolIsActive.info,
        storagePoolIsPersistent.info, storagePoolListAllVolumes.info,
        storageVolCreateXML.info, storageVolDelete.info, storageVolLookupByName.info, storageVolLookupByKey.info,
        storageVolLookupByPath.info, storageVolGetInfo.info, storageVolGetXMLDesc.info, storageVolGetPath.info,
        storageVolCreateXMLFrom.info, storageVolWipe.info, storageVolUpload.info, storageVolDownload.info,
        storageVolWipePattern.info, storageVolResize.info, storageVolGetInfoFlags.info,
        connectStoragePoolEventRegisterAny.info, connectStoragePoolEventDeregisterAny.info,
        connectListDefinedNetworks.info, connectListNetworks.info, connectNumOfDefinedNetworks.info,
        connectNumOfNetworks.info, connectListAllNetworks.info,
        networkCreate.info, networkCreateXML.info, networkDefineXML.info, networkDestroy.info, networkGetXMLDesc.info,
        networkGetAutostart.info, networkGetBridgeName.info, networkLookupByName.info, networkLookupByUUID.info,
        networkSetAutostart.info, networkUndefine.info, networkIsActive.info, networkIsPersistent.info,
        networkGetDHCPLeases.info, networkDefineXMLFlags.info, networkCreateXMLFlags.info,
        connectNetworkEventRegisterAny.info, connectNetworkEventDeregisterAny.info,
        domainAttachDevice.info, domainDetachDevice.info, domainAttachDeviceFlags.info,
        domainDetachDeviceFlags.info, domainUpdateDeviceFlags.info, domainInterfaceAddresses.info,
    ]
}
